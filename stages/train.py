"""Train stage: one ResNet-18 run for one activation, dataset and seed.

    python stages/train.py --activation tanhrelu --dataset digits --seed 0 [--runner-up]

Trains at the learning rate the select stage chose for this activation and dataset
(metrics/selected/<activation>_<dataset>.json; with --runner-up, the runner-up's
<activation>_<dataset>.runner_up.json, and every file name below gets _runner_up after <run>). Writes models/<run>.keras,
metrics/train/<run>.json and dvclive/<run>/, where <run> = <activation>_<dataset>_s<seed>
(see actbench.runs). Reads params: profile, profiles.<profile>.{width,epochs,min_steps,
batch_size,learning_rate}, train.*, evaluate.batch_size. An interrupted run resumes from
checkpoints/<run>/; a diverged run (NaN loss) fails and leaves none of these.
"""

import time

STARTED = time.time()  # before any import, so the stage's own overhead is measured

import argparse  # noqa: E402

import _src  # noqa: E402, F401  (first: run the src/ next to this script)
from actbench import runs  # noqa: E402
from actbench.cli import run_stage  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    params, spec = runs.from_command_line(parser)  # validated before Keras loads
    selection = runs.read_selection(spec.selection)

    from actbench.training import device

    device.configure(params.train.deterministic)
    from actbench.training import loop  # heavy: Keras and its backend

    record = loop.train(spec, params, STARTED, selection)
    print(
        f"{spec.name}: best val_accuracy {record['best_val_accuracy']:.4f} at epoch "
        f"{record['best_epoch']} (learning rate x{selection['lr_multiplier']:g} the profile's)"
    )


if __name__ == "__main__":
    run_stage(main)
