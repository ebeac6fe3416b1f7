// libFuzzer target: the handshake. Two frames cut from the input (a hello,
// then a proof) are fed to an acceptor and to a dialer. Nothing may crash,
// and forged bytes must never complete a handshake (only a proof made with
// the key can).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include <mosaik/net/tcp/handshake.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mosaik;
  using namespace mosaik::tcp;
  static const auto key = GroupKey::derive(std::as_bytes(std::span{"mosaik fuzzing key material", 27}));
  const auto bytes = std::as_bytes(std::span{data, size});
  const auto cut = size == 0 ? 0 : data[0] % (size + 1);
  const auto hello = bytes.subspan(0, cut);
  const auto proof = bytes.subspan(cut);
  for (const auto role : {HandshakeRole::acceptor, HandshakeRole::dialer}) {
    Handshake handshake{key, GroupId{7}, role, PeerId{1}};
    const auto answer = handshake.on_hello(hello);
    const auto verdict = handshake.on_proof(proof);
    if (verdict == HandshakeError::none || handshake.done()) {
      std::abort(); // a forged proof was accepted: the nonce is fresh, so the input cannot hold its MAC
    }
    (void)answer;
  }
  return 0;
}
