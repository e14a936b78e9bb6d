/**
 * Notebook profiles: every notebook has a `profile` parameter, "smoke" (seconds to minutes: CI and a first look)
 * or "default" (the recorded run, minutes to ~45 minutes on 2 cores); the ablation notebooks 10–12 and the recall
 * notebook 13 also offer "long" (hours, for overnight runs; every run resumes from its last checkpoint when the
 * notebook is rerun after a kill). A profile picks the notebook's settings, and every file a notebook writes
 * carries the profile in its name unless it is the default run, so a smoke or long run never overwrites the
 * default run's results.
 */

export type Profile = "smoke" | "default" | "long";
export const PROFILES: readonly Profile[] = ["smoke", "default", "long"];

/** One settings object per profile; "long" is optional (a notebook without it refuses the long profile). */
export type ProfileSettings<T> = Record<"smoke" | "default", T> & { long?: T };

/**
 * The settings of the notebook's `profile` parameter, throwing on an unknown profile name or on "long" where the
 * notebook offers none.
 * @param profile the notebook parameter, "smoke", "default" or "long"
 * @param settings one settings object per profile
 */
export function pickProfile<T>(profile: string, settings: ProfileSettings<T>): T {
  if (!(PROFILES as readonly string[]).includes(profile)) {
    throw new Error(`profile ${JSON.stringify(profile)} is not known: set the notebook parameter profile to "smoke", "default" or "long"`);
  }
  const picked = settings[profile as Profile];
  if (picked === undefined) {
    throw new Error(`profile "${profile}" is not offered here: use "smoke" or "default" (the ablation notebooks 10-12 and the recall notebook 13 offer "long")`);
  }
  return picked;
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
  for (const profile of ["smoke", "long"] as const) {
    if (stem.endsWith(`-${profile}`)) return { name: stem.slice(0, -profile.length - 1), profile };
  }
  return { name: stem, profile: "default" };
}
