// The one median of the benchmarks: of the finite values of `xs` (NaN when there is none), the
// middle one, or the mean of the two middle ones.
export const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
