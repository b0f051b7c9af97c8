import { lbNetnsName, nftListTables } from '../../../../src/dataplane/kernel/index.js'
import { createProgrammer, type NetworkDesired } from '../../../../src/dataplane/programmer/index.js'
import { attachTaskNetns } from '../../../../src/dataplane/plumber/index.js'
import { rootTest } from '@scalelb/test-support'
import { createLab, netnsWithPrefix, startClient, startServer } from '../../../support/netns.js'

const NET = 'percontainer0123456'
const VIP = '10.92.0.100'
const B = ['10.92.0.11', '10.92.0.12']

function want (tasks: string[]): NetworkDesired {
  return {
    sandbox: {
      networkId: NET,
      lbAddresses: ['10.92.0.2/24'],
      lbMac: '02:42:0a:5c:00:02',
      services: [{ id: 'web', vip: VIP, ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }], backends: B.map(ip => ({ ip, weight: 1, draining: false })) }]
    },
    overlay: { networkId: NET, vni: 92, subnets: ['10.92.0.0/24'], localUnderlay: '', remotes: [] },
    localTaskNetns: tasks
  }
}


rootTest(`--lb-mode per-container (measurement only): every task netns holds the LB rules, no sandbox`, async t => {
  const lab = await createLab()
  t.teardown(async () => { await lab.cleanup() })
  const p = createProgrammer('nft', { netnsPrefix: lab.prefix, lbMode: 'per-container', kernel: lab.kernel })
  const nss: string[] = []
  for (let i = 0; i < B.length; i++) nss.push(await lab.netns(`b${i}`))
  const cns = await lab.netns('client')
  const paths = [...nss, cns].map(n => `/run/netns/${n}`)
  await p.apply(want(paths.slice(0, 2)))
  // a task add costs one transaction per local task netns
  t.is((await p.apply(want(paths))).transactions, 1)
  t.is((await p.apply({ ...want(paths), sandbox: { ...want(paths).sandbox, services: [{ ...want(paths).sandbox.services[0], backends: [{ ip: B[0], weight: 1, draining: false }, { ip: B[1], weight: 2, draining: false }] }] } })).transactions, 3)
  await p.apply(want(paths))

  for (const [i, ip] of B.entries()) {
    await attachTaskNetns({ netnsPrefix: lab.prefix, networkId: NET, netnsPath: nss[i], address: `${ip}/24`, mac: `02:42:0a:5c:00:${11 + i}`, kernel: lab.kernel })
    await startServer(lab, nss[i], `task${i}`, 8080)
  }
  await attachTaskNetns({ netnsPrefix: lab.prefix, networkId: NET, netnsPath: cns, address: '10.92.0.50/24', mac: '02:42:0a:5c:00:50', kernel: lab.kernel })
  const spread = await startClient(lab, cns).spread(VIP, 80, 30)
  t.deepEqual(Object.keys(spread).sort(), ['task0', 'task1'], JSON.stringify(spread))
  t.false((await netnsWithPrefix(lab.prefix)).includes(lbNetnsName(lab.prefix, NET)))

  await p.remove(NET)
  for (const n of [...nss, cns]) t.deepEqual(await nftListTables(lab.kernel, `/run/netns/${n}`), [])
})
