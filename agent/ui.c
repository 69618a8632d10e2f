/* ui.c — looks up the embedded web view files. See ui.h. */
#include "agent/ui.h"

#include <string.h>

const UiAsset *ui_find(const char *url)
{
        const char *rest;

        if (strncmp(url, "/ui/", 4) != 0)
                return NULL;
        rest = url + 4;
        if (rest[0] == '\0')
                rest = "index.html";
        for (size_t i = 0; i < ui_n_assets; i++)
                if (strcmp(ui_assets[i].path, rest) == 0)
                        return &ui_assets[i];
        return NULL;
}
