"""The Python binding over the C ABI: answers, streaming, snapshots, errors."""
import threading

import pytest

import folio


def mixed(engine, files):
    return engine.corpus([files["pdf"], files["negotiation_call.vtt"], files["invoice_check.py"]])


def test_version():
    assert folio.version().count(".") == 2


def test_answer_over_pdf_code_and_transcript(tiny_model, sample_corpus):
    with folio.Engine(tiny_model, threads=1) as engine:
        info = engine.model_info
        assert info["architecture"] == "qwen3moe"
        assert info["random_weights"] is True
        corpus = mixed(engine, sample_corpus)
        st = corpus.stats()
        assert st.documents == 3 and st.skipped == [] and st.tokens > 500
        session = engine.session(corpus)
        pieces = []
        answer = session.ask("What is the liability cap?", max_tokens=12, on_token=pieces.append)
        assert "".join(pieces) == answer.text
        assert answer.random_weights
        assert answer.stop_reason in ("length", "eos")
        assert answer.timings.generated_tokens <= 12
        assert answer.timings.prefilled_tokens == answer.timings.corpus_tokens
        ev = answer.evidence()
        assert len(ev) == 5
        assert all(c.resolved and c.weight > 0 for c in ev)
        assert [c.weight for c in ev] == sorted((c.weight for c in ev), reverse=True)
        sources = {sample_corpus["pdf"], sample_corpus["negotiation_call.vtt"], sample_corpus["invoice_check.py"]}
        assert all(c.source in sources for c in ev)
        # Evidence in the PDF names its page; in the code, its lines.
        for c in ev:
            if c.source.endswith(".pdf"):
                assert c.page >= 1
            if c.source.endswith(".py"):
                assert c.line_begin >= 1
        assert answer.json["text"] == answer.text or "\ufffd" in answer.json["text"]
        assert len(answer.json["citations"]) == len(answer.citations)


def test_streaming_iterator_and_early_stop(tiny_model, sample_corpus):
    with folio.Engine(tiny_model, threads=1) as engine:
        session = engine.session(mixed(engine, sample_corpus))
        stream = session.stream("Which law governs?", max_tokens=10)
        text = "".join(stream)
        assert stream.answer is not None and stream.answer.text == text
        long = session.stream("Which law governs?", max_tokens=500)
        first = next(iter(long))
        assert isinstance(first, str)
        long.close()  # leaving early cancels the generation
        assert long.answer.stop_reason == "cancelled"
        assert long.answer.timings.generated_tokens < 500


def test_second_engine_restores_from_the_store(tiny_model, sample_corpus, tmp_path):
    store = str(tmp_path / "kv.db")
    with folio.Engine(tiny_model, threads=1, store=store) as e1:
        s1 = e1.session(mixed(e1, sample_corpus))
        a1 = s1.ask("How can the agreement be terminated?", max_tokens=8)
        assert a1.timings.restored_tokens == 0
    with folio.Engine(tiny_model, threads=1, store=store) as e2:
        s2 = e2.session(mixed(e2, sample_corpus))
        a2 = s2.ask("How can the agreement be terminated?", max_tokens=8)
        assert a2.timings.restored_tokens > 0
        assert a2.timings.restored_tokens + a2.timings.prefilled_tokens == a2.timings.corpus_tokens
        assert a2.text == a1.text


def test_forks_answer_in_parallel_threads(tiny_model, sample_corpus):
    with folio.Engine(tiny_model, threads=1) as engine:
        base = engine.session(mixed(engine, sample_corpus))
        expected = base.ask("What is the liability cap?", max_tokens=6).text
        forks = [base.fork() for _ in range(3)]
        results = [None] * 3

        def run(i):
            results[i] = forks[i].ask("What is the liability cap?", max_tokens=6).text

        threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [expected] * 3


def test_forks_share_the_corpus_kv(tiny_model, sample_corpus):
    with folio.Engine(tiny_model, threads=1) as engine:
        base = engine.session(mixed(engine, sample_corpus))
        m0 = base.kv_memory()
        assert m0["bytes"] > 0 and m0["family_bytes"] == m0["bytes"] and m0["shared_bytes"] == 0
        forks = [base.fork() for _ in range(4)]
        f = forks[0].kv_memory()
        own = f["bytes"] - f["shared_bytes"]  # the copied partial block
        assert 0 < own < m0["bytes"] // 4
        assert base.kv_memory()["family_bytes"] == m0["bytes"] + 4 * own
        for fk in forks:
            fk.close()
        assert base.kv_memory() == m0


def test_backend_option(tiny_model):
    with pytest.raises(folio.Error) as err:
        folio.Engine(tiny_model, backend="tpu")
    assert "auto" in str(err.value)
    with folio.Engine(tiny_model, backend="auto") as engine:
        info = engine.model_info
        assert info["backend"] in ("cpu", "cuda")
        assert (info["backend_note"] != "") == (info["backend"] == "cpu")


def test_errors_carry_the_library_message(tiny_model, sample_corpus, tmp_path):
    with pytest.raises(folio.IOFailure, match="missing.gguf"):
        folio.Engine(str(tmp_path / "missing.gguf"))
    with pytest.raises(folio.FormatError, match="master_services_agreement.md"):
        folio.Engine(sample_corpus["master_services_agreement.md"])
    with folio.Engine(tiny_model, threads=1, context_budget=1024) as engine:
        corpus = mixed(engine, sample_corpus)
        with pytest.raises(folio.ContextTooLarge, match=r"corpus too large: [\d,]+ tokens.*at most [\d,]+ corpus tokens fit") as e:
            engine.session(corpus)
        assert e.value.status == "context_too_large"
        with pytest.raises(folio.Unsupported, match="scan.pdf"):
            corpus.add_text("scan.pdf", "%PDF-1.4")
        with pytest.raises(folio.InvalidArgument, match="sparse"):
            engine.session(corpus, sparse="sometimes")
    with folio.Engine(tiny_model, threads=1) as engine:
        session = engine.session(mixed(engine, sample_corpus))
        with pytest.raises(folio.InvalidArgument, match="empty question"):
            session.ask("")


def test_progress_callbacks_and_cancellation(tiny_model, sample_corpus):
    with folio.Engine(tiny_model, threads=1) as engine:
        seen = []
        corpus = engine.corpus([sample_corpus["pdf"], sample_corpus["invoice_check.py"]],
                               progress=lambda stage, done, total, item: seen.append((stage, done, total)))
        corpus.wait()
        assert [s for s, _, _ in seen] == ["ingest", "ingest"]
        with pytest.raises(folio.Cancelled):
            engine.session(corpus, progress=lambda stage, done, total, item: stage != "prefill")

        def boom(*_):
            raise RuntimeError("callback failed")
        with pytest.raises(RuntimeError, match="callback failed"):
            engine.session(corpus, progress=boom)
