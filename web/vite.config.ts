import { defineConfig } from 'vite';

// Fixed file names: the binary embeds dist/ by name (src/http/dashboard.rs).
export default defineConfig({
  // Relative to the <base> the server writes into each page, so a proxy's prefix carries through.
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    // The players' libraries (hls.js) are larger than Vite's default warning.
    chunkSizeWarningLimit: 600,
    // Every browser the players support preloads modules itself.
    modulePreload: { polyfill: false },
    rollupOptions: {
      input: { streams: 'index.html', debug: 'debug.html', settings: 'settings.html' },
      output: {
        entryFileNames: 'assets/[name].js',
        chunkFileNames: 'assets/[name].js',
        assetFileNames: 'assets/[name][extname]',
        // The players' libraries apart from the page's own code (its size is measured alone).
        manualChunks: (id) => {
          if (id.includes('node_modules/hls.js')) return 'hls';
          if (id.includes('node_modules/@cycjimmy/jsmpeg-player')) return 'jsmpeg';
          // What both pages share (the API, the players) in one chunk of a fixed name.
          if (id.includes('/src/') && !/\/src\/(streams\.ts|debug\.ts|settings)/.test(id)) {
            return 'common';
          }
          return undefined;
        },
      },
    },
  },
});
