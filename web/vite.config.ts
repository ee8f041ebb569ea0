/// <reference types="vitest/config" />
import { defineConfig } from 'vite';

// The gateway (port 8084) serves the built app from web/dist on the same origin.
// `npm run dev` proxies the API prefixes to a locally running gateway.
const GATEWAY = process.env.CORTEX_GATEWAY_URL ?? 'http://127.0.0.1:8084';

export default defineConfig({
  base: '/',
  esbuild: { jsx: 'automatic' },
  server: {
    proxy: {
      '/v1': { target: GATEWAY, changeOrigin: false },
      '/auth': { target: GATEWAY, changeOrigin: false },
      '/admin': { target: GATEWAY, changeOrigin: false },
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2022',
    rollupOptions: {
      onwarn(warning, warn) {
        // react-router ships "use client" directives, meaningless in a client-only bundle.
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE') return;
        warn(warning);
      },
      output: {
        manualChunks(id) {
          if (!id.includes('node_modules')) return undefined;
          if (/[\\/](marked|dompurify|highlight\.js)[\\/]/.test(id)) return 'markdown';
          return 'vendor';
        },
      },
    },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
