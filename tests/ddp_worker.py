"""Run by tests/test_train.py under `accelerate launch --num_processes 2`: train a few steps, then
save this process's weights so the test can check that data parallelism kept the ranks identical."""

import sys
from pathlib import Path

from safetensors.torch import save_file

from mav_lite.train import train

out = Path(sys.argv[1])
trainer = train("unconditional", "ci", out / "run", progress=False, steps=4, batch_size=4, precision="no",
                save_every=100, sample_every=100, val_every=100)
state = {k: v.contiguous() for k, v in trainer.model.state_dict().items()}
save_file(state, str(out / f"rank{trainer.rank}.safetensors"))
print(f"rank {trainer.rank} of {trainer.world} done")
