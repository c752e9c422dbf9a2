import assert from "node:assert/strict";
import { IjrError } from "../../lib/errors/mod.ts";
import {
  detectCgroupLayout,
  detectHostCgroupLayout,
  parseMountinfo,
  parseProcCgroup,
} from "../../lib/cgroup/detect.ts";

/** This host as saved when the backend was written: v1 controllers, a controller-less v2. */
const HYBRID_MOUNTINFO = `22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const HYBRID_CGROUP = `9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/c5af318cfd7ce2cbf96149e85dc63b07
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
`;

/** A systemd host with only the unified hierarchy. */
const PURE_V2_MOUNTINFO =
  `24 29 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
25 24 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
29 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
`;

Deno.test("cgroup detect: this hybrid host is v1, with memory in its own cgroup", () => {
  const layout = detectCgroupLayout({ mountinfo: HYBRID_MOUNTINFO, procCgroup: HYBRID_CGROUP });
  assert.deepEqual(layout, {
    version: 1,
    hierarchies: [
      { controllers: ["cpu"], mountPoint: "/sys/fs/cgroup/cpu", ownPath: "/" },
      { controllers: ["cpuacct"], mountPoint: "/sys/fs/cgroup/cpuacct", ownPath: "/" },
      {
        controllers: ["memory"],
        mountPoint: "/sys/fs/cgroup/memory",
        ownPath: "/process_api/c5af318cfd7ce2cbf96149e85dc63b07",
      },
      { controllers: ["blkio"], mountPoint: "/sys/fs/cgroup/blkio", ownPath: "/" },
      { controllers: ["pids"], mountPoint: "/sys/fs/cgroup/pids", ownPath: "/" },
      { controllers: ["freezer"], mountPoint: "/sys/fs/cgroup/freezer", ownPath: "/" },
    ],
  });
});

Deno.test("cgroup detect: pure v2 is v2, and the daemon leaf is not our own cgroup", () => {
  assert.deepEqual(
    detectCgroupLayout({
      mountinfo: PURE_V2_MOUNTINFO,
      procCgroup: "0::/system.slice/ijrd.service\n",
    }),
    { version: 2, mountPoint: "/sys/fs/cgroup", ownPath: "/system.slice/ijrd.service" },
  );
  assert.deepEqual(
    detectCgroupLayout({
      mountinfo: PURE_V2_MOUNTINFO,
      procCgroup: "0::/system.slice/ijrd.service/ijr-daemon\n",
    }),
    { version: 2, mountPoint: "/sys/fs/cgroup", ownPath: "/system.slice/ijrd.service" },
  );
  assert.deepEqual(
    detectCgroupLayout({ mountinfo: PURE_V2_MOUNTINFO, procCgroup: "0::/\n" }),
    { version: 2, mountPoint: "/sys/fs/cgroup", ownPath: "/" },
  );
});

Deno.test("cgroup detect: combined v1 hierarchies and container mount roots", () => {
  // Debian-style v1 with cpu,cpuacct on one hierarchy, seen from a container whose
  // cgroups are bind-mounted from /docker/abc.
  const mountinfo = `
40 31 0:37 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,nosuid - cgroup cgroup rw,cpu,cpuacct
41 31 0:38 /docker/abc /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
42 31 0:39 /docker/abc /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids
43 31 0:40 /docker/abc /sys/fs/cgroup/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio
`;
  const procCgroup = `5:cpu,cpuacct:/docker/abc/inner
4:memory:/docker/abc
3:pids:/docker/abc
2:net_cls,net_prio:/docker/abc
`;
  assert.deepEqual(detectCgroupLayout({ mountinfo, procCgroup }), {
    version: 1,
    hierarchies: [
      {
        controllers: ["cpu", "cpuacct"],
        mountPoint: "/sys/fs/cgroup/cpu,cpuacct",
        ownPath: "/inner",
      },
      { controllers: ["memory"], mountPoint: "/sys/fs/cgroup/memory", ownPath: "/" },
      { controllers: ["pids"], mountPoint: "/sys/fs/cgroup/pids", ownPath: "/" },
    ],
  });
});

Deno.test("cgroup detect: mountinfo escapes and /proc/self/cgroup lines are parsed", () => {
  const [mount] = parseMountinfo(
    "50 31 0:45 / /mnt/my\\040cgroups rw shared:3 master:1 - cgroup2 none rw,nsdelegate\n",
  );
  assert.deepEqual(mount, {
    device: "0:45",
    root: "/",
    mountPoint: "/mnt/my cgroups",
    fsType: "cgroup2",
    superOptions: ["rw", "nsdelegate"],
  });
  assert.deepEqual(parseProcCgroup("12:cpu,cpuacct:/a:b\n0::/\n"), [
    { id: 12, controllers: ["cpu", "cpuacct"], path: "/a:b" },
    { id: 0, controllers: [], path: "/" },
  ]);
});

Deno.test("cgroup detect: no cgroup mounted, or v1 without pids, is a clear precondition", () => {
  for (
    const [input, message] of [
      [
        { mountinfo: "24 29 0:22 / /sys rw - sysfs sysfs rw\n", procCgroup: "" },
        /no cgroup file system is mounted: IJR needs cgroup v1 or v2/,
      ],
      [
        {
          mountinfo: "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n" +
            "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
          procCgroup: "2:cpu:/\n1:memory:/\n",
        },
        /cgroup v1 controller pids is not mounted/,
      ],
    ] as const
  ) {
    assert.throws(() => detectCgroupLayout(input), (error: unknown) => {
      assert.ok(error instanceof IjrError);
      assert.equal(error.code, "FAILED_PRECONDITION");
      assert.match(error.message, message);
      return true;
    });
  }
});

Deno.test("cgroup detect: the real host is v1 with our own cgroups from /proc/self/cgroup", async () => {
  const layout = await detectHostCgroupLayout();
  assert.equal(layout.version, 1);
  if (layout.version !== 1) return;
  const own = parseProcCgroup(await Deno.readTextFile("/proc/self/cgroup"));
  for (const hierarchy of layout.hierarchies) {
    const entry = own.find((line) => line.controllers.includes(hierarchy.controllers[0]));
    assert.equal(hierarchy.ownPath, entry?.path);
    assert.ok((await Deno.stat(hierarchy.mountPoint + hierarchy.ownPath)).isDirectory);
  }
  assert.deepEqual(
    layout.hierarchies.flatMap((hierarchy) => hierarchy.controllers).sort(),
    ["blkio", "cpu", "cpuacct", "freezer", "memory", "pids"],
  );
});
