/* ui.h — the web view's static files (agent/ui/), compiled into sponged at build time by
 * agent/ui/embed.cmake: /ui/ serves them from memory, no file is read at run time.
 * Immutable, shared by every thread; the bytes live as long as the program.
 */
#pragma once

#include <stddef.h>

typedef struct UiAsset {
        const char *path; /* below /ui/, e.g. "index.html", "vendor/uplot/uPlot.iife.min.js" */
        const char *content_type;
        const unsigned char *data; /* NUL-terminated for convenience; len excludes it */
        size_t len;
} UiAsset;

extern const UiAsset ui_assets[];
extern const size_t ui_n_assets;

/* The asset for a URL path below /ui ("/ui/" and "/ui/index.html" are the page). Returns NULL
 * for anything else (including "/ui" itself, which callers redirect to "/ui/"). */
const UiAsset *ui_find(const char *url);
