"""The built-in synthetic world: procedural images with exact ground truth, written on first use in the real
on-disk formats, and the tiny base model trained on it with the framework's own SFT.

- `world_task(task, cache_dir)`: the task config with its world's split paths filled in (COCO JSON for detection
  and open-vocabulary detection, CoOp split files for classification, ReasonSeg folders for grounding, ViRFT rows
  for SFT), writing `cache_dir/worlds/<kind>-<hash>/<split>` on first use (`vrft.synthetic.world`).
- `WorldSpec`, `world_spec(block)`: the recipe of a world (`vrft.synthetic.spec`).

- prompts `synth_detection`, `synth_classification`, `synth_grounding` (`vrft.synthetic.prompts`).

Left out: anything model-specific (coordinates follow the Qwen2-VL 0..1000 convention).
"""

from vrft.synthetic import prompts  # noqa: F401  (registers the synth_* prompts)
from vrft.synthetic.spec import WorldSpec, world_spec
from vrft.synthetic.world import world_dir, world_task

__all__ = ["WorldSpec", "world_dir", "world_spec", "world_task"]
