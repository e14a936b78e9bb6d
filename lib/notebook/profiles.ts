/**
 * Notebook profiles: every notebook has a `profile` parameter, "smoke" (seconds to minutes: CI and a first look)
 * or "default" (the recorded run). A profile picks the notebook's settings, and every file a notebook writes
 * carries the profile in its name unless it is the default run, so a smoke run never overwrites a real result.
 */

export type Profile = "smoke" | "default";

/**
 * The settings of the notebook's `profile` parameter, throwing on an unknown profile name.
 * @param profile the notebook parameter, "smoke" or "default"
 * @param settings one settings object per profile
 */
export function pickProfile<T>(profile: string, settings: Record<Profile, T>): T {
  if (profile !== "smoke" && profile !== "default") {
    throw new Error(`profile ${JSON.stringify(profile)} is not known: set the notebook parameter profile to "smoke" or "default"`);
  }
  return settings[profile];
}

/**
 * The name of a figure or table for a notebook profile: `name` for the default profile, `name-<profile>`
 * otherwise, so a smoke run (CI) never overwrites the default run's figures.
 * @param name e.g. "01-enwik8-learning-curves"; profile: the notebook's profile parameter
 */
export function profiledName(name: string, profile: string): string {
  return profile === "default" ? name : `${name}-${profile}`;
}

/**
 * The inverse of profiledName for a file stem: "01-enwik8-bpb-smoke" → {name: "01-enwik8-bpb", profile: "smoke"},
 * "01-enwik8-bpb" → {name: "01-enwik8-bpb", profile: "default"}.
 */
export function splitProfiledName(stem: string): { name: string; profile: Profile } {
  return stem.endsWith("-smoke") ? { name: stem.slice(0, -"-smoke".length), profile: "smoke" } : { name: stem, profile: "default" };
}
