/* test_run.c — `ctrace run` end to end.  Writes a tiny random GPT-2-layout
 * model (3 layers, width 32) with GPT-2's real vocabulary and tokenizer.json
 * into a temporary directory, then runs tests/run_e2e.sh on it, which drives
 * the binary ($CTRACE_BIN) the way users do: the seed's command line on real
 * peq-both rows, artefacts, resume after kill -9, bad rows, shards + average,
 * bad paths.  The numbers inside the case files are the engine's (checked
 * against ROME in test_trace_rome / test_trace_fast_vs_naive); here the
 * point is the run: files, names, spans, skipping, resuming. */
#include <sys/stat.h>
#include <unistd.h>
#include "harness.h"
#include "ctrace_app.h"
#include "tiny_gpt2.h"

int main(void)
{
    TEST_BEGIN();
    char dir[] = "/tmp/ct_test_run_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char model[600];
    snprintf(model, sizeof model, "%s/model", dir);
    mkdir(model, 0777);
    CHECK(tiny_gpt2_write(model, 256, 987654321) == 0, "model and tokenizer written");
    ct_err e;
    CHECK_OK(ct_model_check(model, NULL, NULL, &e), &e);

    /* the CLI part: tests/run_e2e.sh MODEL WORK (run from the repository root, as `make test` does) */
    const char *script = access("tests/run_e2e.sh", R_OK) == 0 ? "tests/run_e2e.sh" : NULL;
    CHECK(script != NULL, "tests/run_e2e.sh found (run from the repository root)");
    if (script) {
        char cmd[2000], line[4096];
        snprintf(cmd, sizeof cmd, "sh %s '%s' '%s/work' 2>&1", script, model, dir);
        FILE *p = popen(cmd, "r");
        int n = -1, nf = -1;
        /* the script's checks count as this test's: its last line "run_e2e.sh: N checks, F failed" */
        while (p && fgets(line, sizeof line, p)) {
            fputs(line, stdout);
            sscanf(line, "run_e2e.sh: %d checks, %d failed", &n, &nf);
        }
        int st = p ? pclose(p) : -1;
        if (n >= 0 && nf >= 0) { ct_t_pass += n - nf; ct_t_fail += nf; }
        CHECK(st == 0 && n > 0, "tests/run_e2e.sh failed (status %d): see the FAIL lines above", st);
    }
    char rm[700];
    snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
    if (getenv("CT_KEEP_RUN")) printf("kept %s\n", dir);
    else if (system(rm)) {}
    return TEST_END();
}
