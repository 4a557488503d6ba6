"""The sampled-rejection diagnostic: per presence, the share of sampled answers that say "No Objects" and the
queries whose samples disagree (the groups that carry a GRPO signal)."""

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
