#!/usr/bin/env bash
# The floor for bench/formation: the least a person could type to form a swarm over SSH.
# `docker swarm init` on the first manager, then every other node joins (in parallel) with the
# token read from it. No validation, no idempotence, no reconciliation.
# Usage: bench/plain_swarm.sh KEY KNOWN_HOSTS MANAGER_IP... -- WORKER_IP...
set -euo pipefail
key=$1 known=$2; shift 2
managers=() workers=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do managers+=("$1"); shift; done
[ $# -gt 0 ] && shift
workers=("$@")
ssh_node() { ssh -i "$key" -o UserKnownHostsFile="$known" -o StrictHostKeyChecking=yes -o BatchMode=yes "root@$1" "${@:2}"; }
first=${managers[0]}
ssh_node "$first" docker swarm init --advertise-addr "$first" >/dev/null
mtoken=$(ssh_node "$first" docker swarm join-token -q manager)
wtoken=$(ssh_node "$first" docker swarm join-token -q worker)
pids=()
for ip in "${managers[@]:1}"; do
  ssh_node "$ip" docker swarm join --advertise-addr "$ip" --token "$mtoken" "$first:2377" >/dev/null & pids+=($!)
done
for ip in "${workers[@]}"; do
  ssh_node "$ip" docker swarm join --advertise-addr "$ip" --token "$wtoken" "$first:2377" >/dev/null & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
