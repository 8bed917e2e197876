/** Turns text into a URL slug: lower case, words joined by dashes, punctuation dropped. */
export function slugify(text) {
  return text
    .toLowerCase()
    .trim()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}
