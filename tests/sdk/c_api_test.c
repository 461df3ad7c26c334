/* The C ABI from C: builds as C99 with -pedantic and runs the whole flow over
 * a mixed corpus, plus the error paths. Used twice: in the build tree (CTest
 * `sdk_c_api`) and as the program the install test compiles against an
 * installed libfolio (find_package and pkg-config).
 *
 * usage: c_api_test MODEL.gguf SAMPLE_DIR [STORE.db]
 * Prints the answer and its citations; exits non-zero on the first failed check. */
#include <folio/folio.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;
#define CHECK(cond)                                                   \
  do {                                                                \
    if (!(cond)) {                                                    \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                     \
    }                                                                 \
  } while (0)

struct stream_state {
  size_t bytes;
  int calls;
};

static int on_token(void *user, const char *piece, size_t len) {
  struct stream_state *s = (struct stream_state *)user;
  s->bytes += len;
  s->calls += 1;
  fwrite(piece, 1, len, stdout);
  return 0;
}

static int progress_calls = 0;
static int on_progress(void *user, const char *stage, uint64_t done, uint64_t total, const char *item) {
  (void)user;
  (void)done;
  (void)total;
  (void)item;
  CHECK(stage != NULL && stage[0] != '\0');
  ++progress_calls;
  return 0;
}

static void join(char *out, size_t n, const char *dir, const char *name) { snprintf(out, n, "%s/%s", dir, name); }

int main(int argc, char **argv) {
  folio_engine_options eo;
  folio_engine *engine = NULL;
  folio_corpus_options co;
  folio_corpus *corpus = NULL;
  folio_corpus_stats cs;
  folio_session_options so;
  folio_session *session = NULL;
  folio_ask_options ao;
  folio_answer *answer = NULL;
  folio_timings t;
  folio_model_info mi;
  struct stream_state st = {0, 0};
  char path[4096];
  size_t i, n;
  folio_status s;

  if (argc < 3) {
    fprintf(stderr, "usage: %s MODEL.gguf SAMPLE_DIR [STORE.db]\n", argv[0]);
    return 2;
  }
  printf("folio %s (ABI %d)\n", folio_version(), folio_abi_version());
  CHECK(folio_abi_version() == FOLIO_ABI_VERSION);
  CHECK(strcmp(folio_status_name(FOLIO_ERR_CONTEXT_TOO_LARGE), "context_too_large") == 0);

  /* A program built against an older header has a shorter options struct:
   * the library's defaults must stop at its struct_size. Here the "old" struct
   * ends after model_path, and the bytes after it must stay untouched. */
  {
    unsigned char raw[sizeof(folio_engine_options) + 16];
    const uint32_t old_size = (uint32_t)(offsetof(folio_engine_options, model_path) + sizeof(const char *));
    folio_engine_options *older = (folio_engine_options *)(void *)raw;
    memset(raw, 0xAB, sizeof raw);
    folio_engine_options_defaults(older, old_size);
    CHECK(older->struct_size == old_size);
    CHECK(older->model_path == NULL);
    for (i = old_size; i < sizeof raw; ++i) CHECK(raw[i] == 0xAB);
  }

  /* A wrong model file: a clear message on the handle, no crash. */
  folio_engine_options_init(&eo);
  join(path, sizeof path, argv[2], "master_services_agreement.md");
  eo.model_path = path;
  s = folio_engine_open(&eo, &engine);
  CHECK(s == FOLIO_ERR_FORMAT);
  CHECK(engine != NULL);
  printf("wrong model file -> %s: %s\n", folio_status_name(s), folio_last_error(engine));
  CHECK(strstr(folio_last_error(engine), "master_services_agreement.md") != NULL);
  folio_engine_free(engine);
  engine = NULL;

  eo.model_path = argv[1];
  eo.threads = 1;
  eo.store_path = argc > 3 ? argv[3] : NULL;
  s = folio_engine_open(&eo, &engine);
  if (s != FOLIO_OK) {
    fprintf(stderr, "engine: %s\n", folio_last_error(engine));
    return 1;
  }
  mi.struct_size = sizeof mi;
  CHECK(folio_engine_model_info(engine, &mi) == FOLIO_OK);
  CHECK(strcmp(mi.architecture, "qwen3moe") == 0);
  CHECK(mi.random_weights == 1);

  folio_corpus_options_init(&co);
  co.progress = on_progress;
  CHECK(folio_corpus_new(engine, &co, &corpus) == FOLIO_OK);
  join(path, sizeof path, argv[2], "master_services_agreement.md");
  CHECK(folio_corpus_add_path(corpus, path) == FOLIO_OK);
  join(path, sizeof path, argv[2], "negotiation_call.vtt");
  CHECK(folio_corpus_add_path(corpus, path) == FOLIO_OK);
  join(path, sizeof path, argv[2], "invoice_check.py");
  CHECK(folio_corpus_add_path(corpus, path) == FOLIO_OK);
  join(path, sizeof path, argv[2], "no-such-file.pdf");
  CHECK(folio_corpus_add_path(corpus, path) == FOLIO_OK); /* skipped, not fatal */
  {
    const char *memo = "1. Scope\n\nA memo.\n";
    CHECK(folio_corpus_add_text(corpus, "memo.txt", memo, strlen(memo), NULL) == FOLIO_OK);
  }
  CHECK(folio_corpus_add_text(corpus, "scan.pdf", "%PDF", 4, NULL) == FOLIO_ERR_UNSUPPORTED);
  CHECK(strstr(folio_last_error(corpus), "scan.pdf") != NULL);
  cs.struct_size = sizeof cs;
  CHECK(folio_corpus_stats_get(corpus, &cs) == FOLIO_OK);
  CHECK(cs.documents == 4);
  CHECK(cs.skipped == 1);
  CHECK(cs.tokens > 0);
  CHECK(progress_calls >= 4);
  {
    const char *src = NULL, *why = NULL;
    CHECK(folio_corpus_skipped(corpus, 0, &src, &why) == FOLIO_OK);
    CHECK(src && strstr(src, "no-such-file.pdf") != NULL);
    CHECK(why && why[0] != '\0');
    CHECK(folio_corpus_skipped(corpus, 1, &src, &why) == FOLIO_ERR_INVALID_ARGUMENT);
  }

  folio_session_options_init(&so);
  s = folio_session_open(engine, corpus, &so, &session);
  if (s != FOLIO_OK) {
    fprintf(stderr, "session: %s\n", folio_last_error(session));
    return 1;
  }

  folio_ask_options_init(&ao);
  ao.max_tokens = 12;
  ao.on_token = on_token;
  ao.token_user = &st;
  printf("answer: ");
  s = folio_session_ask(session, "What is the liability cap?", &ao, &answer);
  printf("\n");
  if (s != FOLIO_OK) {
    fprintf(stderr, "ask: %s\n", folio_last_error(session));
    return 1;
  }
  CHECK(st.bytes == strlen(folio_answer_text(answer)));
  CHECK(folio_answer_random_weights(answer) == 1);
  CHECK(strstr(folio_answer_json(answer), "\"citations\"") != NULL);
  t.struct_size = sizeof t;
  CHECK(folio_answer_timings(answer, &t) == FOLIO_OK);
  CHECK(t.corpus_tokens > 0);
  CHECK(t.restored_tokens + t.prefilled_tokens == t.corpus_tokens);
  printf("corpus %lld tokens: %lld restored, %lld prefilled; %lld generated (%s)\n", (long long)t.corpus_tokens,
         (long long)t.restored_tokens, (long long)t.prefilled_tokens, (long long)t.generated_tokens,
         folio_answer_stop_reason(answer));
  n = folio_answer_citation_count(answer);
  CHECK(n > 0);
  for (i = 0; i < n; ++i) {
    folio_citation c;
    c.struct_size = sizeof c;
    CHECK(folio_answer_citation(answer, i, &c) == FOLIO_OK);
    if (c.kind == FOLIO_CITATION_ATTENTION) {
      CHECK(c.resolved == 1);
      CHECK(c.source[0] != '\0');
      printf("  attention %5.1f%%  %s\n", 100.0 * c.weight, c.description);
    } else {
      printf("  reference %s -> %s\n", c.text, c.resolved ? c.description : c.problem);
    }
  }
  {
    folio_citation c;
    c.struct_size = sizeof c;
    CHECK(folio_answer_citation(answer, n, &c) == FOLIO_ERR_INVALID_ARGUMENT);
    CHECK(strstr(folio_last_error(answer), "out of range") != NULL);
  }
  folio_answer_free(answer);
  answer = NULL;

  /* A fork answers too; errors stay on their handles. */
  {
    folio_session *fork = NULL;
    CHECK(folio_session_fork(session, &fork) == FOLIO_OK);
    CHECK(folio_session_ask(fork, "", NULL, &answer) == FOLIO_ERR_INVALID_ARGUMENT);
    CHECK(answer == NULL);
    CHECK(strstr(folio_last_error(fork), "empty question") != NULL);
    CHECK(folio_session_ask(fork, "Which law governs?", NULL, &answer) == FOLIO_OK);
    folio_answer_free(answer);
    folio_session_free(fork);
  }

  /* Options with an unset size are refused rather than misread. */
  {
    folio_ask_options bad;
    memset(&bad, 0, sizeof bad);
    CHECK(folio_session_ask(session, "x", &bad, &answer) == FOLIO_ERR_INVALID_ARGUMENT);
  }
  CHECK(strcmp(folio_last_error(NULL), "") != 0);

  folio_session_free(session);
  folio_corpus_free(corpus);
  folio_engine_free(engine);
  if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
  return failures ? 1 : 0;
}
