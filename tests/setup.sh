#!/usr/bin/env bash
# Installs every Debian 12 package sponged needs to build, test, benchmark and run its VM tests.
# Idempotent and non-interactive; works as root or through sudo.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then
    exec sudo -- bash "$0" "$@"
  fi
  echo "setup.sh: must run as root (or with sudo installed) to install packages" >&2
  exit 1
fi

packages=(
  # toolchain
  build-essential cmake gcc clang clang-format pkg-config git
  # libraries
  libcgroup-dev libbpf-dev bpftool libelf-dev zlib1g-dev libmicrohttpd-dev libglpk-dev
  libjansson-dev libcmocka-dev
  # tests and benchmarks
  curl wrk nginx-light gnuplot-nox dataset-fashion-mnist procps psmisc python3 python3-jsonschema
  # VM tests: Debian's kernel under qemu with a busybox initramfs, systemd as PID 1
  qemu-system-x86 busybox-static cpio kmod systemd
  # real models: PyTorch workers (Debian's python3, not a version manager's)
  python3-torch
  # operators: promtool (metrics check), man pages (scdoc), the web view's browser test
  prometheus scdoc chromium
  # fuzzing: libFuzzer and the sanitizer runtimes for clang
  libclang-rt-14-dev
  # past one node: the load balancer in front of several agents
  haproxy
  # operators: the spongectl completion's test (ops.conventions) runs under bash-completion
  bash-completion
)

# `setup.sh --run`: only what building and running sponged (and agent/demo.sh) needs — the
# toolchain (clang and bpftool build the eBPF probe), the libraries, curl, and for the demo's
# PyTorch pipeline python3, python3-torch and the Fashion-MNIST test images it sends.
# Everything else above is for tests, benchmarks, VMs, fuzzing and docs.
run_only=0
if [ "${1:-}" = "--run" ]; then
  run_only=1
  packages=(build-essential cmake gcc clang pkg-config libcgroup-dev libbpf-dev bpftool libelf-dev
            zlib1g-dev libmicrohttpd-dev libglpk-dev libjansson-dev libcmocka-dev curl python3
            python3-torch dataset-fashion-mnist)
elif [ -n "${1:-}" ]; then
  echo "usage: setup.sh [--run]   (no argument: everything, for tests; --run: build + run)" >&2
  exit 2
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# The Kubernetes manifest check (k8s.manifests) runs Node.js: the machine's own, else Debian's.
if [ "$run_only" = 0 ]; then
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
fi
if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup.sh: all ${#packages[@]} packages present"
  exit 0
fi
echo "setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
