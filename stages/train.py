"""Train stage: one ResNet-18 run for one activation, dataset and seed.

    python stages/train.py --role candidate --activation tanhrelu --dataset digits --seed 0

Writes models/<role>/<run>.keras, metrics/train/<role>/<run>.json and dvclive/<role>/<run>/,
where <run> = <activation>_<dataset>_s<seed> (see actbench.runs). Reads params: profile,
profiles.<profile>.{width,epochs,min_steps,batch_size}, train.*. An interrupted run resumes
from checkpoints/<role>/<run>/; a diverged run (NaN loss) fails and leaves none of these.
"""

import time

STARTED = time.time()  # before any import, so the stage's own overhead is measured

import _src  # noqa: E402, F401  (first: run the src/ next to this script)
from actbench import runs  # noqa: E402
from actbench.cli import run_stage  # noqa: E402


def main() -> None:
    params, spec = runs.from_command_line(__doc__.splitlines()[0])  # validated before Keras loads

    from actbench.training import device

    device.configure(params.train.deterministic)
    from actbench.training import loop  # heavy: Keras and its backend

    record = loop.train(spec, params, STARTED)
    print(
        f"{spec.name}: best val_accuracy {record['best_val_accuracy']:.4f} at epoch {record['best_epoch']}"
    )


if __name__ == "__main__":
    run_stage(main)
