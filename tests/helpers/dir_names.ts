/**
 * The names of a folder's sub-folders, sorted: what the cgroup test doubles (which keep their
 * trees in real temporary folders) answer for a cgroup's children.
 * @module
 */

/** The sub-folders of `path`, by name, sorted. */
export async function subfolderNames(path: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(path)) if (entry.isDirectory) names.push(entry.name);
  return names.sort();
}
