#!/usr/bin/env bash
# The Docker image, built and run for real on the CPU: `make docker-check`.
#
#   make docker-check      # requirements/gpu.lock (CUDA TensorFlow), the README's --user line as written
#   make docker-check-ci   # CI's: the CPU lock, and -S 'activations=[tanhrelu,relu]', 1 seed and 2 epochs on both runs
#   make docker-check DOCKER_LOCK=requirements/dev.lock DOCKER_CHECK_ARGS="-S 'seeds=[3,4,5]'"
#
# What it does, on a fresh `git clone` of the committed HEAD (never the working tree):
#  1. uses the Docker engine that answers (DOCKER_HOST or the default socket), else starts a private
#     dockerd (overlay2, or vfs where overlay2 does not work) with its own socket and data-root
#     under ACTBENCH_DOCKER_ROOT (default /var/lib/actbench-docker), and stops it, by its process
#     ID, at the end;
#  2. builds the stand-in base image (tools/docker_base.sh: Docker Hub is not reachable here), then
#     the project's Dockerfile on it, `--network host`, with the lock as shipped, tagged `actbench`;
#  3. `docker run --rm actbench` (doctor) must pass, on the CPU, with CUDA TensorFlow when the lock
#     is gpu.lock (a CUDA build runs without a GPU: that is what is tested);
#  4. runs the README's CPU `docker run --user "$(id -u):$(id -g)" ...` line exactly as written, as
#     UID ACTBENCH_DOCKER_UID (default 12345), which has no passwd entry on the host or in the
#     image, in a fresh clone owned by that UID (its own clone, as a user's is), then checks that the
#     experiment completed and that every file in the clone, those the container wrote included,
#     is owned by that UID;
#  5. runs the same `dvc exp run` on the host (.venv) in another fresh clone, started before step 2
#     and run beside steps 2 to 4 (it needs no Docker), and checks that
#     metrics/summary.json and the per-run test metrics in metrics/comparison.json are equal
#     (the line sets train.deterministic=true: bit-identical on the same CPU and library versions).
# Extra `dvc exp run` arguments for both runs: DOCKER_CHECK_ARGS (empty = the README line as written).
# Needs root, docker.io and debootstrap (`apt-get install docker.io debootstrap`), and `make setup`.
#
# --build-only: steps 1 and 2 only (no `make setup` needed), leaving the images in the engine's
# cache, so that a check afterwards finds every layer built (.ci/run builds them beside make test).
set -euo pipefail
BUILD_ONLY=
[[ ${1:-} != --build-only ]] || BUILD_ONLY=1

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DOCKER=${DOCKER:-docker}
export DOCKER_BUILDKIT=0 # the classic builder: no buildx plugin needed, same with every client
DATA_ROOT=${ACTBENCH_DOCKER_ROOT:-/var/lib/actbench-docker}
BASE=${ACTBENCH_BASE_IMAGE:-actbench-standin/python:3.11-slim-bookworm}
LOCK=${DOCKER_LOCK:-requirements/gpu.lock}
CHECK_UID=${ACTBENCH_DOCKER_UID:-12345}
EXTRA=${DOCKER_CHECK_ARGS:-}
HOST_BIN=$ROOT/.venv/bin

say() { echo "docker-check: $*"; }
fail() {
  echo "docker-check: FAILED: $*" >&2
  exit 1
}
[[ $(id -u) == 0 ]] || fail "needs root (it starts dockerd, chowns a clone and switches UID)"
for tool in "$DOCKER" dockerd debootstrap setpriv git; do
  command -v "$tool" >/dev/null || fail "$tool is missing: apt-get install docker.io debootstrap"
done
[[ -n $BUILD_ONLY || -x $HOST_BIN/dvc ]] || fail "no $HOST_BIN/dvc: run make setup first"
if getent passwd "$CHECK_UID" >/dev/null; then
  fail "UID $CHECK_UID has a passwd entry here; pick another: ACTBENCH_DOCKER_UID=..."
fi

total_start=$SECONDS
mkdir -p "$DATA_ROOT"
WORK=$(mktemp -d "$DATA_ROOT/check.XXXXXX")
chmod 755 "$WORK"
DAEMON_PID=
HOST_PID=
cleanup() {
  local rc=$?
  [[ -z $HOST_PID ]] || kill -- "-$HOST_PID" 2>/dev/null || true
  if [[ -n $DAEMON_PID ]]; then
    kill "$DAEMON_PID" 2>/dev/null || true
    for _ in $(seq 60); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.5; done
    # dockerd leaves its network namespace mounted under the exec-root.
    findmnt -rn -o TARGET | grep "^$DATA_ROOT/exec/" | sort -r | xargs -r umount 2>/dev/null || true
    say "stopped the private dockerd (PID $DAEMON_PID)"
  fi
  if [[ $rc != 0 || -n ${ACTBENCH_DOCKER_KEEP:-} ]]; then
    say "kept $WORK (logs, clones)"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

# 1. The engine: the one that answers, else a private one.
sock=$DATA_ROOT/docker.sock
if "$DOCKER" info >/dev/null 2>&1; then
  say "using the Docker engine that answers (${DOCKER_HOST:-default socket})"
elif DOCKER_HOST=unix://$sock "$DOCKER" info >/dev/null 2>&1; then
  export DOCKER_HOST=unix://$sock # a private dockerd that an interrupted check left running: kept
  say "using the private dockerd that answers on $sock (PID $(cat "$DATA_ROOT/dockerd.pid"))"
else
  PROBE=$(readlink -f "$(command -v docker-init)") || fail "docker-init is missing (docker.io ships it)"
  export DOCKER_HOST=unix://$sock
  for driver in ${ACTBENCH_DOCKER_STORAGE:-overlay2 vfs}; do
    dockerd --data-root "$DATA_ROOT/data" --exec-root "$DATA_ROOT/exec" \
      --pidfile "$DATA_ROOT/dockerd.pid" -H "$DOCKER_HOST" --storage-driver="$driver" \
      --iptables=false --ip-masq=false --bridge=none >"$WORK/dockerd-$driver.log" 2>&1 &
    DAEMON_PID=$!
    for _ in $(seq 60); do
      "$DOCKER" info >/dev/null 2>&1 && break
      kill -0 "$DAEMON_PID" 2>/dev/null || break
      sleep 0.5
    done
    # The driver must also run a container: an image of one static binary (tini, docker.io's
    # docker-init) is enough to try.
    if "$DOCKER" info >/dev/null 2>&1 &&
      tar -C "$(dirname "$PROBE")" -c "$(basename "$PROBE")" | "$DOCKER" import - actbench-probe >/dev/null &&
      "$DOCKER" run --rm --entrypoint "/$(basename "$PROBE")" actbench-probe --version >/dev/null 2>&1; then
      "$DOCKER" image rm actbench-probe >/dev/null
      say "started a private dockerd (PID $DAEMON_PID, storage $driver, socket $sock)"
      break
    fi
    say "dockerd with storage $driver did not work here (log: $WORK/dockerd-$driver.log)"
    kill "$DAEMON_PID" 2>/dev/null || true
    wait "$DAEMON_PID" 2>/dev/null || true
    DAEMON_PID=
  done
  [[ -n $DAEMON_PID ]] || fail "no dockerd would start"
fi

if [[ -z $BUILD_ONLY ]]; then
  # The README's --user line (step 4) and the experiment it runs, from HEAD.
  line=$(git -C "$ROOT" show HEAD:README.md |
    grep -E '^docker run --rm --user "\$\(id -u\):\$\(id -g\)" -v "\$PWD":/workspace actbench dvc exp run ' | head -1) || true
  [[ -n $line ]] || fail "README.md has no CPU line 'docker run --rm --user \"\$(id -u):\$(id -g)\" -v \"\$PWD\":/workspace actbench dvc exp run ...'"
  line=${line%%  #*} # the line without its trailing comment
  exp_cmd=${line#* actbench }

  # 5, started first: the same experiment on the host, in another fresh clone, beside the image
  # build (it needs no Docker); step 5 waits for it and compares the metrics.
  git clone -q "$ROOT" "$WORK/host"
  (cd "$WORK/host" && PATH="$HOST_BIN:$PATH" exec setsid --wait bash -c \
    'start=$SECONDS; bash -c "$1"; rc=$?; echo $((SECONDS - start)) >../host-seconds; exit $rc' \
    host-run "$exp_cmd${EXTRA:+ $EXTRA}") >"$WORK/host-run.log" 2>&1 &
  HOST_PID=$! # its own process group (setsid): cleanup stops the whole run
fi

# 2. The stand-in base, then the project's Dockerfile on it, from a clone of HEAD.
t=$SECONDS
ACTBENCH_BASE_IMAGE=$BASE ACTBENCH_DOCKER_ROOT=$DATA_ROOT DOCKER=$DOCKER bash "$ROOT/tools/docker_base.sh"
say "stand-in base: $((SECONDS - t)) s"
git clone -q "$ROOT" "$WORK/src"
say "testing commit $(git -C "$WORK/src" rev-parse --short HEAD), lock $LOCK"
t=$SECONDS
"$DOCKER" build --network host --build-arg BASE_IMAGE="$BASE" --build-arg LOCK="$LOCK" \
  -t actbench "$WORK/src" >"$WORK/build.log" 2>&1 || {
  tail -30 "$WORK/build.log" >&2
  fail "docker build (log: $WORK/build.log)"
}
size=$("$DOCKER" image inspect --format '{{.Size}}' actbench)
say "docker build: $((SECONDS - t)) s, image $(awk "BEGIN {printf \"%.2f\", $size / 1e9}") GB"
if [[ -n $BUILD_ONLY ]]; then
  say "built (--build-only) in $((SECONDS - total_start)) s; the images stay in $DATA_ROOT"
  exit 0
fi

# 3. The default command, the doctor; and which TensorFlow build it is.
"$DOCKER" run --rm actbench >"$WORK/doctor.log" 2>&1 || {
  cat "$WORK/doctor.log" >&2
  fail "docker run --rm actbench (the doctor)"
}
grep -E '^(backend|versions|gpus) ' "$WORK/doctor.log" | sed 's/^/  /'
cuda=$("$DOCKER" run --rm actbench python -c \
  'import tensorflow as tf; print(tf.test.is_built_with_cuda(), len(tf.config.list_physical_devices("GPU")))' 2>/dev/null)
say "doctor passed; TensorFlow: CUDA build ${cuda% *}, GPUs seen ${cuda#* }"
if [[ $LOCK == */gpu.lock && $cuda != "True 0" ]]; then
  fail "expected the CUDA build of TensorFlow running without a GPU, got: $cuda"
fi
if "$DOCKER" run --rm --user "$CHECK_UID:$CHECK_UID" actbench getent passwd "$CHECK_UID" >/dev/null; then
  fail "UID $CHECK_UID has a passwd entry in the image"
fi

# 4. The README's --user line, as written, as a UID with no passwd entry, in its own clone.
say "as UID $CHECK_UID: $line${EXTRA:+ $EXTRA}"
git clone -q "$ROOT" "$WORK/ws"
mkdir "$WORK/home"
chown -R "$CHECK_UID:$CHECK_UID" "$WORK/ws" "$WORK/home"
touch "$WORK/before"
groups=$CHECK_UID
if [[ ${DOCKER_HOST:-unix://} == unix://* ]]; then
  groups=$(stat -c %g "${DOCKER_HOST#unix://}" 2>/dev/null || stat -c %g /var/run/docker.sock)
fi
t=$SECONDS
(cd "$WORK/ws" && setpriv --reuid="$CHECK_UID" --regid="$CHECK_UID" --groups="$groups" -- \
  env HOME="$WORK/home" DOCKER_HOST="${DOCKER_HOST:-}" PATH="$PATH" DOCKER_BUILDKIT=0 \
  bash -c "$line${EXTRA:+ $EXTRA}") >"$WORK/container-run.log" 2>&1 || {
  tail -30 "$WORK/container-run.log" >&2
  fail "the --user line (log: $WORK/container-run.log)"
}
say "container run: $((SECONDS - t)) s"
[[ -f $WORK/ws/metrics/summary.json ]] || fail "the container run wrote no metrics/summary.json"
written=$(find "$WORK/ws" -newer "$WORK/before" -type f | wc -l)
others=$(find "$WORK/ws" -not -uid "$CHECK_UID" -printf '%u:%g %p\n' | head -5)
[[ -z $others ]] || fail "files in the mounted clone not owned by UID $CHECK_UID: $others"
say "the container wrote $written files, all owned by UID $CHECK_UID (no passwd entry)"

# 5. The host run (started before step 2) must have passed, with metrics equal to the container's.
wait "$HOST_PID" || {
  tail -30 "$WORK/host-run.log" >&2
  fail "the host run (log: $WORK/host-run.log)"
}
HOST_PID=
say "host run, beside steps 2 to 4: $(cat "$WORK/host-seconds") s"
"$HOST_BIN/python" "$ROOT/tools/docker_compare.py" "$WORK/host" "$WORK/ws" || fail "metrics differ"
say "passed in $((SECONDS - total_start)) s"
