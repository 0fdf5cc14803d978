import { Output, networks, checksum } from '@bitcoinerlab/descriptors';
import * as ms from '@bitcoinerlab/miniscript';
const net = networks.regtest;
const A = 'tpubD96zBxqakkAHeoEeKtQkwABhdRwaydxRkbiKCwk1s4q2Y6vxRWuoPEWRT4p9cKSqtPVEMHfx3msAd3hAh66kpYYUzGZBuGg4peVA13dsJ45';
const B = 'tpubD8pNfS3kRVdF4bTkgwBLt2moQxg9m1qtGx87neczC2Kj2sdjAB6vDq2U5dSQmWezZx7e9ffeGVadx3h9ookPFniTFcK5tK61gTLDXv6rTSt';
const hexP = '785c6ee41ef2d6da2cb01c7db2a718621f4304c12b57c53548b2130e68e4205e';
const cases = [];
const add = (desc, index) => {
  const o = new Output(index === undefined ? { descriptor: desc, network: net } : { descriptor: desc, index, network: net });
  cases.push({ descriptor: desc, checksum: checksum(desc), index: index ?? 0, address: o.getAddress(),
    scriptPubKey: Buffer.from(o.getScriptPubKey()).toString('hex') });
};
for (const n of [1, 16, 17, 144, 4320, 65535]) {
  for (const branch of [0, 1]) {
    for (const i of [0, 7]) add(`tr(${A}/${branch}/*,and_v(v:pk([deadbeef/86'/1'/0']${B}/${branch}/*),older(${n})))`, i);
  }
}
add(`tr(${hexP},and_v(v:pk(${B}/0/0),older(144)))`);
add(`tr(${hexP},and_v(v:pk(${B}/0/0),older(32768)))`);
const miniscript = [1, 2, 16, 17, 127, 128, 144, 255, 256, 4320, 32767, 32768, 65535].map(n => ({
  older: n, asm: ms.compileMiniscript(`and_v(v:pk(K),older(${n}))`, { tapscript: true }).asm }));
console.log(JSON.stringify({ generator: '@bitcoinerlab/descriptors 3.2.0 + @bitcoinerlab/miniscript 2.0.0 (node v20)', network: 'regtest', descriptors: cases, miniscript }, null, 1));
