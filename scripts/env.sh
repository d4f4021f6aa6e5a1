# Source this file (bash) to use the project's venv and its built messages:
#   source scripts/env.sh
# With an apt-installed ROS 2, source /opt/ros/<distro>/setup.bash first.
_seg_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_seg_install="${SEG_INSTALL_DIR:-$_seg_root/.build/install}"
if [ -d "$_seg_root/.venv" ]; then
  export VIRTUAL_ENV="$_seg_root/.venv"
  export PATH="$VIRTUAL_ENV/bin:$PATH"
  export AMENT_PREFIX_PATH="$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
fi
if [ -f "$_seg_install/seg_perception/share/seg_perception/local_setup.bash" ]; then
  _seg_prefix="$_seg_install/seg_perception"
  _seg_pyver="$(python3 -c 'import sys; print(f"python{sys.version_info[0]}.{sys.version_info[1]}")')"
  export AMENT_PREFIX_PATH="$_seg_prefix:${AMENT_PREFIX_PATH:-}"
  export LD_LIBRARY_PATH="$_seg_prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  # The source tree first: its seg_perception/ merges the generated msg package in.
  export PYTHONPATH="$_seg_root:$_seg_prefix/lib/$_seg_pyver/site-packages${PYTHONPATH:+:$PYTHONPATH}"
fi
# Test-only interface copies (scripts/build_test_interfaces.sh: moveit_msgs where
# MoveIt is not installable); the folder exists only when they were built.
_seg_test_install="$_seg_root/.build/test_install"
if [ -d "$_seg_test_install" ]; then
  _seg_pyver="$(python3 -c 'import sys; print(f"python{sys.version_info[0]}.{sys.version_info[1]}")')"
  for _seg_prefix in "$_seg_test_install"/*/; do
    _seg_prefix="${_seg_prefix%/}"
    [ -d "$_seg_prefix/share" ] || continue
    export AMENT_PREFIX_PATH="$_seg_prefix${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
    export LD_LIBRARY_PATH="$_seg_prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$_seg_prefix/lib/$_seg_pyver/site-packages"
  done
fi
# The real launch system, ros2 CLI, message_filters and vision_msgs where bootstrap
# installed them (pip-only ROS 2 with ../shared/ros2_extras beside the checkout).
if [ -z "${ROS_DISTRO:-}" ] && [ -f "$_seg_root/.build/ros2_extras/local_setup.bash" ]; then
  # shellcheck disable=SC1091
  source "$_seg_root/.build/ros2_extras/local_setup.bash"
fi
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
# Camera images do not fit Fast DDS's default shared-memory segment: without this
# profile best-effort image topics lose frames under load (config/fastdds_large_data.xml).
if [ "$RMW_IMPLEMENTATION" = rmw_fastrtps_cpp ] && [ -z "${FASTRTPS_DEFAULT_PROFILES_FILE:-}" ]; then
  export FASTDDS_DEFAULT_PROFILES_FILE="${FASTDDS_DEFAULT_PROFILES_FILE:-$_seg_root/config/fastdds_large_data.xml}"
fi
unset _seg_root _seg_install _seg_prefix _seg_pyver _seg_test_install
