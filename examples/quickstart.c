/* SPDX-License-Identifier: MIT */
/* Quick start: a sandbox on this machine, no server needed.
 *
 * Creates a sandbox, uploads a small Python program, runs it, shows what it
 * printed, downloads what it wrote, and deletes the sandbox.
 *
 *   cc quickstart.c $(pkg-config --cflags --libs noxrunner) -o quickstart
 *   ./quickstart            # local sandboxes (the embedded default)
 *   ./quickstart http://127.0.0.1:8080   # the same through noxrunnerd
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <noxrunner/noxrunner.h>

static const char program[] = "import platform, os\n"
                              "print('hello from', platform.python_version(), 'in', os.getcwd())\n"
                              "open('result.txt', 'w').write('42\\n')\n";

static int fail(const char *what, const nox_error *err)
{
    fprintf(stderr, "quickstart: %s: %s\n", what, nox_error_message(err));
    if (nox_error_code(err) == NOX_E_ISOLATION)
        fprintf(stderr, "quickstart: run `noxrunnerd --check` to see what this host lacks\n");
    return 1;
}

int main(int argc, char **argv)
{
    nox_client_options opts;
    nox_client_options_init(&opts);
    if (argc > 1)
        opts.base_url = argv[1];
    else
        opts.local = true;

    nox_error *err = nox_error_new();
    nox_client *client = NULL;
    if (nox_client_new(&opts, &client, err) != 0)
        return fail("create the client", err);
    printf("libnoxrunner %s, %s backend at %s\n", nox_version(),
           nox_client_is_local(client) ? "local" : "http", nox_client_location(client));

    const char *id = "quickstart";
    nox_sandbox *sb = NULL;
    int status = 1;
    if (nox_create(client, id, NULL, &sb, err) != 0) {
        fail("create the sandbox", err);
        goto out;
    }
    printf("sandbox %s (%s), isolation: %s, expires %s\n", id, sb->pod_name,
           sb->isolation ? sb->isolation : "backend-defined", sb->expires_at);
    nox_sandbox_free(sb);

    nox_file files[] = { { "main.py", program, sizeof program - 1, 0644 } };
    if (nox_upload_files(client, id, files, 1, "/workspace", err) != 0) {
        fail("upload main.py", err);
        goto cleanup;
    }

    const char *cmd[] = { "python3", "main.py", NULL };
    nox_exec_result *res = NULL;
    if (nox_exec(client, id, cmd, NULL, &res, err) != 0) {
        fail("run main.py", err);
        goto cleanup;
    }
    printf("exit code %d after %lld ms\n", res->exit_code, (long long)res->duration_ms);
    fwrite(res->stdout_data, 1, res->stdout_len, stdout);
    fwrite(res->stderr_data, 1, res->stderr_len, stderr);
    int code = res->exit_code;
    nox_exec_result_free(res);
    if (code != 0)
        goto cleanup;

    bool any = false;
    if (nox_download_workspace(client, id, "/workspace", "quickstart-output", &any, err) != 0) {
        fail("download the workspace", err);
        goto cleanup;
    }
    printf("downloaded the workspace into ./quickstart-output (result.txt holds 42)\n");
    status = 0;

cleanup:
    if (nox_delete(client, id, err) != 0) {
        fail("delete the sandbox", err);
        status = 1;
    } else {
        printf("sandbox deleted\n");
    }
out:
    nox_client_free(client);
    nox_error_free(err);
    return status;
}
