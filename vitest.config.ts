import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // The sample app imports the package by its name, as a user's app would: the tests run it on the sources.
  resolve: {
    alias: [
      { find: /^nestjs-event-broker$/, replacement: fileURLToPath(new URL('./lib/index.ts', import.meta.url)) },
      {
        find: /^nestjs-event-broker\/([a-z-]+)$/,
        replacement: fileURLToPath(new URL('./lib/$1.ts', import.meta.url)),
      },
    ],
  },
  test: {
    include: ['test/**/*.spec.ts'],
    environment: 'node',
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
