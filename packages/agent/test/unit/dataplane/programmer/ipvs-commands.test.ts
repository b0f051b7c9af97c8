import test from 'ava'
import { createIpvsProgrammer } from '../../../../src/dataplane/programmer/index.js'
import { backends, desired } from '../../../support/programmer-compliance.js'
import { recorder, type Call } from '../../../support/recorder.js'

// the IPVS programmer's generated commands, recorded instead of run: no root, no IPVS needed

test('ipvs: generated commands are Docker\'s layout (fwmark services, masquerade, weight 0 drain, SNAT, vs sysctls)', async t => {
  const k = recorder()
  const p = createIpvsProgrammer({ netnsPrefix: 'x', kernel: k })
  const bs = backends(2)
  await p.apply(desired('netI', [{ backends: bs }, { vip: '10.77.255.2', backends: [] }]))
  const text = (c: Call): string => `${c.cmd} ${c.args.join(' ')}\n${c.input ?? ''}`
  const all = k.calls.map(text).join('\n')
  for (const s of ['echo 1 > /proc/sys/net/ipv4/vs/conntrack', 'echo 1 > /proc/sys/net/ipv4/vs/expire_nodest_conn', 'echo 1 > /proc/sys/net/ipv4/vs/expire_quiescent_template', 'echo 1 > /proc/sys/net/ipv4/ip_forward']) t.true(all.includes(s), s)
  const ipvsadm = k.calls.filter(c => c.cmd === 'ipvsadm')
  t.is(ipvsadm.length, 1)
  t.deepEqual(ipvsadm[0].args, ['-R'])
  t.is(ipvsadm[0].input, '-A -f 256 -s rr\n-a -f 256 -r 10.77.1.2:8080 -m -w 1\n-a -f 256 -r 10.77.1.3:8080 -m -w 1\n')
  const nft = k.calls.filter(c => c.cmd === 'nft').map(c => c.input ?? '').join('\n')
  t.regex(nft, /meta mark set ip daddr \. meta l4proto \. th dport map @marks/)
  t.regex(nft, /add element inet scalelb_\w+ marks \{ 10\.77\.255\.1 \. tcp \. 80 : 256 \}/)
  t.regex(nft, /postrouting meta nfproto ipv4 meta mark >= 256 snat ip to 10\.77\.0\.2\n/)
  t.regex(nft, /add element inet scalelb_\w+ noback \{ 10\.77\.255\.2 \. tcp \. 80 \}/)

  // drain: weight 0, one ipvsadm transaction, no nft change
  k.calls.length = 0
  const res = await p.apply(desired('netI', [{ backends: bs.map((b, i) => ({ ...b, draining: i === 0 })) }, { vip: '10.77.255.2', backends: [] }]))
  t.is(res.transactions, 1)
  t.deepEqual(k.calls.map(c => [c.cmd, c.input]), [['ipvsadm', '-e -f 256 -r 10.77.1.2:8080 -m -w 0\n']])

  // last backend gone: the service is deleted and rejected instead
  k.calls.length = 0
  await p.apply(desired('netI', [{ backends: [] }, { vip: '10.77.255.2', backends: [] }]))
  t.deepEqual(k.calls.find(c => c.cmd === 'ipvsadm')?.input, '-D -f 256\n')
  t.regex(k.calls.find(c => c.cmd === 'nft')?.input ?? '', /delete element inet scalelb_\w+ marks \{ 10\.77\.255\.1 \. tcp \. 80 \}\nadd element inet scalelb_\w+ noback \{ 10\.77\.255\.1 \. tcp \. 80 \}/)
})
