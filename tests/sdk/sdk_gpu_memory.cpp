// Out of memory on the GPU through the public API: an engine asked to run on
// the GPU under a max_device_memory the model does not fit fails with
// out_of_memory naming what was being allocated and how much; with backend
// "auto" the same engine falls back to the CPU, says why, and answers.
//
// Needs a GPU. Without one (or in a libfolio built without CUDA) it prints why
// and exits 77, which CTest reports as skipped: never a silent pass.
#include <cstdio>
#include <string>

#include "tests/sdk/sdk_fixture.hpp"

using namespace folio;

namespace {

int failures = 0;
void expect(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok) ++failures;
}
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

int main() {
  folio::test::SdkFixture fx;
  EngineOptions gpu = fx.engine_options();
  gpu.backend = "cuda";
  try {
    Engine probe(gpu);
    expect(probe.model_info().backend == "cuda", "backend \"cuda\" runs on the GPU");
    Corpus corpus = fx.mixed_corpus(probe);
    Session s = probe.open_session(corpus);
    AskOptions ao;
    ao.max_tokens = 4;
    expect(s.ask("What is the liability cap?", ao).timings.generated_tokens > 0, "the GPU engine answers");
  } catch (const Exception& e) {
    if (e.status() == Status::unsupported) {
      std::printf("SKIPPED: no usable GPU: %s\n", e.what());
      return 77;
    }
    expect(false, std::string("GPU engine without a cap: ") + e.what());
  }

  // 1 MiB: not even the cuBLAS workspace (32 MiB) fits.
  gpu.max_device_memory = uint64_t(1) << 20;
  try {
    Engine e(gpu);
    expect(false, "backend \"cuda\" under a 1 MiB cap must fail");
  } catch (const Exception& e) {
    const std::string m = e.what();
    std::printf("     message: %s\n", m.c_str());
    expect(e.status() == Status::out_of_memory, "the status is out_of_memory");
    expect(contains(m, "cannot allocate 32.0 MiB for cuBLAS workspace"), "the message names what and how much");
    expect(contains(m, "max_device_memory of 1.0 MiB"), "the message names the cap");
  }

  // "auto": the same cap leaves the engine on the CPU, which answers.
  EngineOptions automatic = gpu;
  automatic.backend = "auto";
  try {
    Engine e(automatic);
    const ModelInfo mi = e.model_info();
    expect(mi.backend == "cpu", "backend \"auto\" falls back to the CPU");
    expect(contains(mi.backend_note, "max_device_memory"), "backend_note says why: " + mi.backend_note);
    Corpus corpus = fx.mixed_corpus(e);
    Session s = e.open_session(corpus);
    AskOptions ao;
    ao.max_tokens = 4;
    ao.sampling.temperature = 0;
    const Answer a = s.ask("What is the liability cap?", ao);
    expect(a.timings.generated_tokens > 0, "the CPU engine answers");
  } catch (const Exception& e) {
    expect(false, std::string("auto fallback: ") + e.what());
  }
  std::printf("%s\n", failures ? "FAILED" : "passed");
  return failures ? 1 : 0;
}
