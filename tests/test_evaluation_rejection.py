"""The sampled-rejection diagnostic: per presence, the share of sampled answers that say "No Objects" and the
queries whose samples disagree (the groups that carry a GRPO signal)."""

import pytest

from vrft.evaluation.rejection import rejection_rates

BOX = "<answer>[{'Position': [0, 0, 500, 500], 'Confidence': 1}]</answer>"
NO = "<answer>No Objects</answer>"


def test_rates_are_split_by_presence_and_count_mixed_groups():
    samples = [[NO, NO, BOX, BOX], [BOX] * 4, [NO] * 4, [NO, BOX, BOX, BOX]]
    absent = [True, True, False, False]
    rates = rejection_rates(samples, absent)
    assert rates["absent"] == {"queries": 2, "p_reject": 0.25, "mixed_groups": 1}
    assert rates["present"] == {"queries": 2, "p_reject": 0.625, "mixed_groups": 1}


def test_a_side_without_queries_has_no_rate():
    assert rejection_rates([[NO]], [True])["present"] == {"queries": 0, "p_reject": None, "mixed_groups": 0}


def test_a_prediction_without_its_image_is_one_line_naming_the_file_and_entry(tmp_path):
    from vrft.evaluation.rejection import query_rows

    good = {"problem": "q", "solution": "<answer>No Objects</answer>", "meta": {"image_id": 1}}
    assert query_rows([good], {1: "a.png"}, tmp_path / "p.json")[0]["image"] == "a.png"
    cases = [
        ({**good, "meta": {"image_id": 7}}, "names image 7"),
        ({"problem": "q", "solution": "s"}, "lacks"),
    ]
    for bad, why in cases:
        with pytest.raises(SystemExit) as e:
            query_rows([good, bad], {1: "a.png"}, tmp_path / "p.json")
        assert str(e.value).startswith(
            f"vrft.evaluation.rejection: error: {tmp_path / 'p.json'} entry 1 {why}"
        )
        assert "\n" not in str(e.value)
