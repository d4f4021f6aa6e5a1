#!/usr/bin/env bash
# Build the test-only copies of moveit_msgs/CollisionObject and
# object_recognition_msgs/ObjectType (test/interfaces/) with colcon into
# .build/test_install, so the MoveIt bridge's tests run over real DDS where
# MoveIt is not installable (pip-only ROS 2). `source scripts/env.sh` then
# puts them on the paths.
#
# Idempotent and fast when nothing changed (hash stamp of test/interfaces/ and
# this script). Skipped entirely, and any old copy removed, when a real
# moveit_msgs is importable: the real package must never be shadowed.
# Needs what scripts/bootstrap.sh made (.venv with colcon and the ROS wheels).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"
build="$root/.build"
install="$build/test_install"
src="$root/test/interfaces"
say() { printf '[test-interfaces] %s\n' "$*"; }

python="$venv/bin/python"
[ -x "$python" ] || { echo "no $venv: run scripts/bootstrap.sh (or make setup) first"; exit 1; }

# Where a module is imported from, with our own test copies off the path;
# empty when it is not importable at all.
real_module_dir() {
  PYTHONPATH="$(tr ':' '\n' <<<"${PYTHONPATH:-}" | grep -v "^$install" | paste -sd: -)" \
    "$python" - "$1" <<'PY' 2>/dev/null || true
import importlib, os, sys
try:
    mod = importlib.import_module(sys.argv[1] + ".msg")
except Exception:
    sys.exit(0)
print(os.path.dirname(os.path.realpath(mod.__file__)))
PY
}

real_moveit="$(real_module_dir moveit_msgs)"
if [ -n "$real_moveit" ]; then
  say "a real moveit_msgs is installed ($real_moveit): not building the test copies"
  rm -rf "$install" "$build/test_interfaces.stamp"
  exit 0
fi

hash="$(find "$src" -type f \( -name '*.msg' -o -name 'package.xml' -o -name 'CMakeLists.txt' \) \
          -print0 | sort -z | xargs -0 cat "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)"
stamp="$build/test_interfaces.stamp"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ] && [ -d "$install/moveit_msgs" ]; then
  exit 0
fi

skip=()
real_orm="$(real_module_dir object_recognition_msgs)"
if [ -n "$real_orm" ]; then
  say "using the installed object_recognition_msgs ($real_orm)"
  skip=(--packages-skip object_recognition_msgs)
fi

say "building test copies of moveit_msgs, object_recognition_msgs with colcon"
mkdir -p "$build"
(
  export PATH="$venv/bin:$PATH"
  if [ -z "${ROS_DISTRO:-}" ]; then
    export AMENT_PREFIX_PATH="$venv" CMAKE_PREFIX_PATH="$venv"
  fi
  gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
  "$venv/bin/colcon" --log-base "$build/test_log" build --base-paths "$src" \
    --build-base "$build/test_build" --install-base "$install" \
    --event-handlers console_direct- "${skip[@]}" \
    --cmake-args "${gen[@]}" -DPython3_EXECUTABLE="$python" -DBUILD_TESTING=OFF \
    > "$build/test_interfaces.log" 2>&1 || {
      tail -40 "$build/test_interfaces.log"
      echo "colcon build of test/interfaces failed: $build/test_interfaces.log"; exit 1; }
)
echo "$hash" > "$stamp"
say "ready in $install (source scripts/env.sh)"
