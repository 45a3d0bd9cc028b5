// A deliberately small user agent parser: enough to tell an operator
// "iPhone · Safari 17" or "Windows · Edge 126" at a glance. Full parsers
// know thousands of devices; a person answering "was this me?" needs the
// kind of device and the browser, and the raw string is one hover away.

// Order matters in both lists: the first match wins. iPads and iPhones say
// "like Mac OS X", Android says "Linux", and Edge says "Chrome" and "Safari".
const DEVICES = [
  [/iPhone|iPod/, "iPhone"],
  [/iPad/, "iPad"],
  [/Android/, "Android"],
  [/CrOS/, "ChromeOS"],
  [/Macintosh|Mac OS X/, "Mac"],
  [/Windows/, "Windows"],
  [/Linux|X11/, "Linux"],
];

const BROWSERS = [
  [/Edg(?:e|A|iOS)?\/(\d+)/, "Edge"],
  [/(?:OPR|Opera)\/(\d+)/, "Opera"],
  [/(?:Firefox|FxiOS)\/(\d+)/, "Firefox"],
  [/(?:Chrome|CriOS)\/(\d+)/, "Chrome"],
  [/Version\/(\d+)[.\d]* (?:Mobile\/\S+ )?Safari\//, "Safari"],
];

// parseUserAgent returns {device, browser} for a user agent string; either
// may be "Unknown ...". A string that is not a browser's (curl, an SDK) is
// named by its first product token.
export function parseUserAgent(ua) {
  if (!ua) return { device: "Unknown device", browser: "Unknown browser" };
  const device = DEVICES.find(([re]) => re.test(ua))?.[1] ?? "Unknown device";
  for (const [re, name] of BROWSERS) {
    const m = re.exec(ua);
    if (m) return { device, browser: `${name} ${m[1]}` };
  }
  // iOS apps show pages in a web view whose agent lacks the Safari token.
  if ((device === "iPhone" || device === "iPad") && /AppleWebKit/.test(ua)) {
    return { device, browser: "In-app browser" };
  }
  if (!/^Mozilla\//.test(ua)) {
    const token = ua.split(/\s/, 1)[0].slice(0, 40);
    return { device, browser: token || "Unknown browser" };
  }
  return { device, browser: "Unknown browser" };
}
