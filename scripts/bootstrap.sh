#!/usr/bin/env bash
# Create (or update) everything `make demo` / `make test` need, idempotently:
#   system packages (when root), .venv with ROS 2 wheels + ML libraries,
#   the messages in msg/ built with colcon into .build/install.
# Fast when nothing changed: each step is skipped when its inputs' hash matches.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"
build="$root/.build"
mkdir -p "$build"
say() { printf '[bootstrap] %s\n' "$*"; }
hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }
stamp_ok() { [ -f "$build/$1.stamp" ] && [ "$(cat "$build/$1.stamp")" = "$2" ]; }
stamp_set() { echo "$2" > "$build/$1.stamp"; }

python="${PYTHON:-python3}"
"$python" - <<'PY' || { echo "Python >= 3.10 is required (found $($python --version 2>&1))"; exit 1; }
import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)
PY

# 1. System packages: venv support, a C compiler (the message typesupport is
#    compiled C), libusb (open3d imports it). Only apt-get when one is missing.
need_apt=()
"$python" -c 'import ensurepip, venv' 2>/dev/null || need_apt+=(python3-venv)
command -v cc >/dev/null 2>&1 && command -v c++ >/dev/null 2>&1 || need_apt+=(build-essential)
ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0' || need_apt+=(libusb-1.0-0)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing system packages: ${need_apt[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "Missing system packages. Run once:  sudo apt-get install -y ${need_apt[*]}"; exit 1
  fi
fi

# 2. The virtual environment. With an apt ROS 2 sourced (ROS_DISTRO set) the venv
#    sees its packages and the ROS wheels are not installed.
if [ -n "${ROS_DISTRO:-}" ]; then
  reqs=(requirements.txt); venv_flags=(--system-site-packages)
  say "using the sourced ROS 2 $ROS_DISTRO"
else
  reqs=(requirements-ros.txt requirements.txt); venv_flags=()
fi
if [ ! -x "$venv/bin/python" ]; then
  say "creating $venv"
  "$python" -m venv "${venv_flags[@]}" "$venv"
fi
req_hash="$(hash_of "${reqs[@]}" setup.py)"
if ! stamp_ok venv "$req_hash"; then
  say "installing Python packages (first time: several minutes, a few GB for torch)"
  "$venv/bin/python" -m pip install -q --upgrade pip
  req_args=(); for r in "${reqs[@]}"; do req_args+=(-r "$r"); done
  "$venv/bin/python" -m pip install -q "${req_args[@]}"
  # Console scripts (seg-perception, perception_node, ...) from the source tree.
  "$venv/bin/python" -m pip install -q --no-deps --no-build-isolation -e . \
    --config-settings editable_mode=compat
  stamp_set venv "$req_hash"
fi

# 3. The ROS wheels' CMake files name the include dirs of the machine that built
#    them; point them at this interpreter's (see shared ROS2_FROM_PYPI notes).
if [ -z "${ROS_DISTRO:-}" ] && ! stamp_ok cmake-fix "$req_hash"; then
  "$venv/bin/python" "$root/scripts/fix_ros_wheel_cmake.py" "$venv"
  stamp_set cmake-fix "$req_hash"
fi

# 4. Messages: colcon builds this package from a workspace whose src/ links here.
# (launch/, config/ and sim/gazebo/ are installed into share/ too: a change re-installs)
msg_hash="$(hash_of msg/*.msg CMakeLists.txt package.xml launch/*.py config/* sim/gazebo/*)"
if ! stamp_ok msgs "$msg_hash" || [ ! -d "$build/install/seg_perception" ]; then
  say "building msg/ with colcon"
  mkdir -p "$build/ws/src"
  ln -sfn "$root" "$build/ws/src/seg_perception"
  (
    cd "$build/ws"
    export PATH="$venv/bin:$PATH"
    if [ -z "${ROS_DISTRO:-}" ]; then
      export AMENT_PREFIX_PATH="$venv" CMAKE_PREFIX_PATH="$venv"
    fi
    gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
    "$venv/bin/colcon" --log-base "$build/log" build --base-paths src \
      --build-base "$build/build" --install-base "$build/install" \
      --event-handlers console_direct- \
      --cmake-args "${gen[@]}" -DPython3_EXECUTABLE="$venv/bin/python" -DBUILD_TESTING=OFF \
      > "$build/colcon.log" 2>&1 || { tail -40 "$build/colcon.log"; echo "colcon build failed: $build/colcon.log"; exit 1; }
  )
  stamp_set msgs "$msg_hash"
fi
# 5. The ROS 2 tools PyPI lacks (launch, launch_ros, the ros2 CLI, launch_testing,
#    message_filters, vision_msgs), where this checkout has them beside it
#    (../shared/ros2_extras; an apt ROS 2 has them already). make demo needs none.
extras="${SEG_ROS2_EXTRAS:-$root/../shared/ros2_extras}"
if [ -z "${ROS_DISTRO:-}" ] && [ -f "$extras/install.sh" ]; then
  bash "$extras/install.sh" "$venv" "$build/ros2_extras" > "$build/ros2_extras.log" 2>&1 \
    || { tail -30 "$build/ros2_extras.log"; echo "installing $extras failed: $build/ros2_extras.log"; exit 1; }
fi
say "ready: source scripts/env.sh"
