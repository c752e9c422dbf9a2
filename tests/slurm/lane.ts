/**
 * The Slurm lane's tests run only where `make test-slurm` runs them (tests/slurm/run.sh sets
 * IJR_SLURM_LANE=1 after installing Slurm and munge); `make test` lists them as ignored, with
 * a visible reason, like the cgroup v2 lane's.
 * @module
 */

/** True inside the Slurm lane. */
export const IN_SLURM_LANE: boolean = Deno.env.get("IJR_SLURM_LANE") === "1";

let warned = false;

/** Registers a test that needs the Slurm lane; ignored (visibly) elsewhere. */
export function slurmTest(name: string, fn: (t: Deno.TestContext) => Promise<void>): void {
  if (!IN_SLURM_LANE && !warned) {
    warned = true;
    console.error("SKIP: tests/slurm start a Slurm cluster and run in their lane: make test-slurm");
  }
  Deno.test({ name, ignore: !IN_SLURM_LANE, sanitizeResources: false, sanitizeOps: false, fn });
}
