/* version.h — `PROGRAM --version` for every program of the project (sponged, spongectl,
 * sponge-load, sponge-profile, the workers): one line "PROGRAM VERSION" on stdout, exit 0.
 * SPONGED_VERSION is the project's version, defined by CMake for each target that includes
 * this header.
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#ifndef SPONGED_VERSION
#error "SPONGED_VERSION must be defined by the build (target_compile_definitions)"
#endif

/* True (after printing the version) when the only argument is --version. */
static inline bool sponge_version_requested(int argc, char **argv, const char *program)
{
        if (argc != 2 || strcmp(argv[1], "--version") != 0)
                return false;
        printf("%s %s\n", program, SPONGED_VERSION);
        return true;
}
