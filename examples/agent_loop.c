/* SPDX-License-Identifier: MIT */
/* An agent-style loop: the pattern of a program (an AI agent, a grader, a
 * CI step) that runs untrusted code in steps and decides each next step from
 * what the last one produced.
 *
 *   1. create a sandbox (and wait until it answers),
 *   2. upload a small Python program and its input data from memory,
 *   3. run it and read its exit code and stdout,
 *   4. run a second step that reads the files the first one wrote, with an
 *      environment variable the loop derived from the first step's stdout,
 *   5. download the outputs into a local directory and check them,
 *   6. delete the sandbox (and the local copies).
 *
 * Build against the installed library:
 *
 *   cc agent_loop.c $(pkg-config --cflags --libs noxrunner) -o agent_loop
 *   ./agent_loop                         # local sandboxes, no server
 *   ./agent_loop http://127.0.0.1:8080   # the same through noxrunnerd
 *
 * From the build tree, without installing, the local backend needs the
 * helper: NOXRUNNER_INIT=$PWD/build/nox-init build/examples/agent_loop
 * docs/tutorial.md walks through this program step by step.
 */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw */
#endif
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <noxrunner/noxrunner.h>

/* Step 1 reads numbers, writes statistics as JSON, prints the mean. */
static const char analyze_py[] = "import json, os, sys\n"
                                 "nums = [int(l) for l in open(sys.argv[1]) if l.strip()]\n"
                                 "os.makedirs('out', exist_ok=True)\n"
                                 "stats = {'count': len(nums), 'sum': sum(nums)}\n"
                                 "json.dump(stats, open('out/stats.json', 'w'))\n"
                                 "print('mean=%d' % (stats['sum'] // stats['count']))\n";

/* Step 2 needs step 1's file, and a threshold from the environment. */
static const char filter_py[] =
    "import json, os, sys\n"
    "stats = json.load(open('out/stats.json'))\n"
    "limit = int(os.environ['THRESHOLD'])\n"
    "nums = [int(l) for l in open(sys.argv[1]) if l.strip()]\n"
    "above = [n for n in nums if n > limit]\n"
    "open('out/above.txt', 'w').write(''.join('%d\\n' % n for n in "
    "above))\n"
    "print('%d of %d above %d' % (len(above), stats['count'], limit))\n";

static const char numbers_txt[] = "3\n14\n15\n92\n65\n35\n";

static int report(const char *what, const nox_error *err)
{
    fprintf(stderr, "agent_loop: %s: %s (%s)\n", what, nox_error_message(err),
            nox_strerror(nox_error_code(err)));
    if (nox_error_code(err) == NOX_E_ISOLATION)
        fprintf(stderr, "agent_loop: `noxrunnerd --check` says what this host lacks\n");
    return -1;
}

/* Runs one step and prints what it said. Returns the exit code, or -1 when
 * the call itself failed (a command that fails is not an error of the API:
 * it is a result with a non-zero exit code). */
static int run_step(nox_client *c, const char *id, const char *const *argv,
                    const nox_exec_options *opts, char *out, size_t out_size, nox_error *err)
{
    nox_exec_result *res = NULL;
    if (nox_exec(c, id, argv, opts, &res, err) != 0)
        return report(argv[1] ? argv[1] : argv[0], err);
    printf("$ %s ... exit %d in %lld ms%s\n", argv[1] ? argv[1] : argv[0], res->exit_code,
           (long long)res->duration_ms, res->timed_out ? " (timed out)" : "");
    fwrite(res->stdout_data, 1, res->stdout_len, stdout);
    fwrite(res->stderr_data, 1, res->stderr_len, stderr);
    if (out)
        snprintf(out, out_size, "%s", res->stdout_data);
    int code = res->exit_code;
    nox_exec_result_free(res);
    return code;
}

/* Reads (the start of) a downloaded file into @p buf; false when missing. */
static bool read_local(const char *dir, const char *name, char *buf, size_t size)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
    return true;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(int argc, char **argv)
{
    nox_client_options opts;
    nox_client_options_init(&opts);
    if (argc > 1)
        opts.base_url = argv[1]; /* the one option that moves this to a server */
    else
        opts.local = true;

    nox_error *err = nox_error_new();
    nox_client *c = NULL;
    if (!err || nox_client_new(&opts, &c, err) != 0) {
        report("create the client", err);
        nox_error_free(err);
        return 1;
    }

    /* Ids are chosen by the caller; the pid keeps runs apart on a shared
     * server. */
    char id[64];
    snprintf(id, sizeof id, "agent-loop-%ld", (long)getpid());
    int status = 1;
    char outdir[] = "agent-loop-out-XXXXXX";
    bool have_outdir = false;

    /* 1. A sandbox with a short TTL: if this program dies, it goes away by
     *    itself after 5 minutes without use. */
    nox_create_options co;
    nox_create_options_init(&co);
    co.ttl_seconds = 300;
    co.memory_limit = "256Mi";
    nox_sandbox *sb = NULL;
    if (nox_create(c, id, &co, &sb, err) != 0) {
        report("create the sandbox", err);
        goto out;
    }
    printf("sandbox %s (%s) on %s, expires %s\n", id, sb->pod_name, nox_client_location(c),
           sb->expires_at);
    for (size_t i = 0; i < sb->n_limits; i++)
        if (!sb->limits[i].enforced)
            printf("  note: limit %s is not enforced here: %s\n", sb->limits[i].name,
                   sb->limits[i].reason ? sb->limits[i].reason : "no reason given");
    nox_sandbox_free(sb);
    if (nox_wait_ready(c, id, 30000, 500, err) != 0) {
        report("wait for the sandbox", err);
        goto cleanup;
    }

    /* 2. The program and its data, from memory. */
    const nox_file files[] = {
        { "analyze.py", analyze_py, sizeof analyze_py - 1, 0644 },
        { "filter.py", filter_py, sizeof filter_py - 1, 0644 },
        { "data/numbers.txt", numbers_txt, sizeof numbers_txt - 1, 0644 },
    };
    if (nox_upload_files(c, id, files, 3, "/workspace", err) != 0) {
        report("upload", err);
        goto cleanup;
    }

    /* 3. Step one. */
    nox_exec_options eo;
    nox_exec_options_init(&eo);
    eo.timeout_seconds = 20;
    char said[256];
    const char *step1[] = { "python3", "analyze.py", "data/numbers.txt", NULL };
    int code = run_step(c, id, step1, &eo, said, sizeof said, err);
    if (code != 0)
        goto cleanup;

    /* The loop decides the next step from what the first one printed. */
    int mean = 0;
    if (sscanf(said, "mean=%d", &mean) != 1) {
        fprintf(stderr, "agent_loop: step one printed `%s`, not mean=N\n", said);
        goto cleanup;
    }

    /* Keep the sandbox alive while "thinking" (any use does too). */
    if (nox_touch(c, id, err) != 0) {
        report("touch", err);
        goto cleanup;
    }

    /* 4. Step two reads out/stats.json, which step one left in the
     *    workspace, and gets the threshold through its environment. */
    char threshold[32];
    snprintf(threshold, sizeof threshold, "THRESHOLD=%d", mean);
    const char *env[] = { threshold, NULL };
    eo.env = env;
    const char *step2[] = { "python3", "filter.py", "data/numbers.txt", NULL };
    code = run_step(c, id, step2, &eo, NULL, 0, err);
    if (code != 0)
        goto cleanup;

    /* 5. Bring /workspace/out home and check it. */
    if (!mkdtemp(outdir)) {
        perror("agent_loop: mkdtemp");
        goto cleanup;
    }
    have_outdir = true;
    bool any = false;
    if (nox_download_workspace(c, id, "/workspace/out", outdir, &any, err) != 0) {
        report("download", err);
        goto cleanup;
    }
    char above[256] = "(missing)", stats[256] = "(missing)";
    if (!any || !read_local(outdir, "above.txt", above, sizeof above) ||
        strcmp(above, "92\n65\n") != 0) {
        fprintf(stderr, "agent_loop: out/above.txt is `%s`, expected 92 and 65\n", above);
        goto cleanup;
    }
    if (!read_local(outdir, "stats.json", stats, sizeof stats) || !strstr(stats, "\"count\": 6")) {
        fprintf(stderr, "agent_loop: out/stats.json is `%s`\n", stats);
        goto cleanup;
    }
    printf("downloaded %s/above.txt and %s/stats.json: as expected\n", outdir, outdir);
    status = 0;

cleanup:
    /* 6. Delete: kills anything still running in it and removes its files. */
    if (nox_delete(c, id, err) != 0) {
        report("delete", err);
        status = 1;
    } else {
        printf("sandbox %s deleted\n", id);
    }
    if (have_outdir && nftw(outdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        perror("agent_loop: remove the downloaded files");
        status = 1;
    }
out:
    nox_client_free(c);
    nox_error_free(err);
    return status;
}
