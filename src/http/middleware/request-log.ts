/** The path without its query string (which may carry credentials), bounded in length. */
export function loggedPath(url: string): string {
  const q = url.indexOf('?');
  return (q < 0 ? url : url.slice(0, q)).slice(0, 200);
}

