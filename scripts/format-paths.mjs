// The files the formatter owns (npm run format, and the house test that checks them).
export const FORMAT_GLOBS = ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'scripts/*.mjs'];
