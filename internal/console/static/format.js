// Formatting of times and places for people. The API speaks Unix seconds;
// operators think in "5 minutes ago", with the exact time a hover away.

const relative = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
const exact = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "long" });

// Each unit is used while the difference is below its limit, in seconds.
const UNITS = [
  ["second", 60, 1],
  ["minute", 3600, 60],
  ["hour", 86400, 3600],
  ["day", 86400 * 30, 86400],
  ["month", 86400 * 365, 86400 * 30],
  ["year", Infinity, 86400 * 365],
];

// relativeTime says how far unix (seconds) is from now (milliseconds):
// "5 minutes ago", "in 6 days", "now".
export function relativeTime(unix, now = Date.now()) {
  const diff = unix - Math.round(now / 1000);
  const abs = Math.abs(diff);
  if (abs < 10) return "just now";
  for (const [unit, limit, size] of UNITS) {
    // Rounded, so that 6 days 23 hours reads "in 7 days".
    if (abs < limit) return relative.format(Math.round(diff / size), unit);
  }
  return "";
}

// exactTime is the full local date and time of unix seconds.
export function exactTime(unix) {
  return exact.format(new Date(unix * 1000));
}

// isoTime is the machine-readable form for <time datetime>.
export function isoTime(unix) {
  return new Date(unix * 1000).toISOString();
}

// place is "City, Country" from a session's metadata, or "Unknown".
export function place(md) {
  const parts = [md?.city, md?.country].filter((s) => typeof s === "string" && s);
  return parts.length ? parts.join(", ") : "Unknown location";
}
