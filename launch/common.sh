# shellcheck shell=bash
# Shared by launch/tpu.sh and launch/gpu.sh (sourced, not run).

# Prints its arguments as one shell-quoted line (like Python's shlex.join).
print_cmd() {
  local arg out=()
  for arg in "$@"; do
    if [[ "${arg}" =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then out+=("${arg}")
    else out+=("'${arg//\'/\'\\\'\'}'"); fi
  done
  echo "${out[*]}"
}
