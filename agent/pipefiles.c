/* pipefiles.c — pipeline and pin files: see pipefiles.h. */
#include "agent/pipefiles.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/log.h"
#include "agent/stage.h"

#define PIN_FILE_MAX (1u << 20)

static int pin_path(const Pipeline *p, char *buf, size_t size)
{
        int n;

        if (!p->path)
                return -EINVAL;
        n = snprintf(buf, size, "%s" PIN_SUFFIX, p->path);
        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int write_json(const char *path, json_t *j)
{
        char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
        int r = s ? write_file_atomic(path, s, strlen(s)) : -ENOMEM;

        free(s);
        json_decref(j);
        return r;
}

int pipefile_write(const char *path, const pl_pipeline *cfg)
{
        return write_json(path, pl_to_json(cfg));
}

static int unlink_durably(const char *path)
{
        if (unlink(path) < 0)
                return errno == ENOENT ? 0 : -errno;
        return fsync_parent_dir(path);
}

int pipefile_remove(const Pipeline *p)
{
        char pin[4096];
        int r;

        if (!p->path)
                return 0;
        r = unlink_durably(p->path);
        if (r < 0)
                return r;
        if (pin_path(p, pin, sizeof(pin)) >= 0 && (r = unlink_durably(pin)) < 0)
                log_warning_errno(r, "Pipeline %s: its file is removed but not its pin %s: %m",
                                  p->cfg->name, pin);
        return 0;
}

int pin_save(const Pipeline *p, const pl_plan_entry *plan)
{
        char path[4096];
        int r = pin_path(p, path, sizeof(path));

        return r < 0 ? r : write_json(path, pl_plan_to_json(p->cfg, plan));
}

int pin_forget(const Pipeline *p)
{
        char path[4096];
        int r = pin_path(p, path, sizeof(path));

        return r < 0 ? 0 : unlink_durably(path);
}

void pin_restore(Pipeline *p)
{
        _cleanup_free_ pl_plan_entry *plan = NULL;
        _cleanup_free_ char *text = NULL;
        char path[4096], err[512];
        json_error_t jerr;
        json_t *j;
        int r;

        if (pin_path(p, path, sizeof(path)) < 0)
                return;
        r = read_file(path, PIN_FILE_MAX, &text, NULL);
        if (r == -ENOENT)
                return;
        if (r < 0) {
                log_warning_errno(r, "Pipeline %s: cannot read its pinned plan %s: %m; not pinned",
                                  p->cfg->name, path);
                return;
        }
        j = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
        if (!j) {
                log_warning("Pipeline %s: %s:%d:%d: %s; not pinned", p->cfg->name, path, jerr.line,
                            jerr.column, jerr.text);
                return;
        }
        r = pl_check_plan(p->cfg, j, &plan, err, sizeof(err));
        json_decref(j);
        if (r < 0) {
                log_warning("Pipeline %s: the plan pinned in %s no longer fits it (%s); not pinned",
                            p->cfg->name, path, err);
                return;
        }
        p->pinned = true;
        for (size_t i = 0; i < p->cfg->n_stages; i++)
                stage_set_plan(&p->stages[i], &plan[i]);
        log_notice("Pipeline %s: plan pinned by hand, restored from %s", p->cfg->name, path);
}

static bool is_stale_temp(const char *name)
{
        return strstr(name, ".json" WRITE_ATOMIC_TMP_INFIX) ||
               strstr(name, ".json" PIN_SUFFIX WRITE_ATOMIC_TMP_INFIX);
}

int pipefiles_remove_stale(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        int n = 0;

        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d))) {
                struct stat st;
                if (!is_stale_temp(de->d_name) ||
                    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISREG(st.st_mode))
                        continue;
                if (unlinkat(dirfd(d), de->d_name, 0) == 0)
                        n++;
                else
                        log_warning("Cannot remove the stale temp file %s/%s: %s", dir, de->d_name,
                                    strerror(errno));
        }
        closedir(d);
        return n;
}
