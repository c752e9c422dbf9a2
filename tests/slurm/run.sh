#!/usr/bin/env bash
# The Slurm lane (make test-slurm): installs Slurm and munge from Debian when they are missing,
# then runs tests/slurm, which start a one-node cluster of their own (tests/slurm/cluster.ts)
# beside a real ijrd and submit IJR jobs through srun and sbatch. Needs root: slurmd, which runs
# the steps, and ijrd both do.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${DENO:?run through make test-slurm, which sets DENO}"

if [ "$(id -u)" != 0 ]; then
  echo "make test-slurm: needs root (slurmd runs the job steps as their user, ijrd runs jobs)" >&2
  exit 1
fi

# Debian's packages: slurm-wlm (slurmctld, slurmd, srun, sbatch, ...) and munge. Their own
# services are not used: the lane's cluster has its own config, key and ports.
missing=0
for command in slurmctld slurmd srun sbatch scancel squeue scontrol sinfo munged; do
  command -v "$command" >/dev/null || missing=1
done
if [ "$missing" = 1 ]; then
  echo "installing slurm-wlm and munge from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    slurm-wlm munge >/dev/null
fi

IJR_SLURM_LANE=1 exec "$DENO" test --allow-all tests/slurm/
