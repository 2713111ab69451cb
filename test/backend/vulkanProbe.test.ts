/**
 * The Vulkan probe behind `p2phd doctor`'s WebGPU line, on fake machines:
 * each case is a file system, an environment and an ldconfig cache, and the
 * expected missing piece is written out by hand.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { posix } from 'node:path';
import { webgpuMissing, describeVulkan } from '../../src/backend/doctor.js';
import type { AdapterDescription } from '../../src/backend/webgpu/device.js';
import { findLibrary, icdSearchPaths, vulkanFacts, type SystemView } from '../../src/backend/webgpu/vulkan.js';

const NVIDIA_ICD = JSON.stringify({ file_format_version: '1.0.1', ICD: { library_path: 'libGLX_nvidia.so.0', api_version: '1.4.312' } });
const LVP_ICD = JSON.stringify({ ICD: { library_path: '/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so', api_version: '1.4.305' } });

function ldconfigLine(name: string, folder = '/usr/lib/x86_64-linux-gnu'): string {
  return `\t${name} (libc6,x86-64) => ${folder}/${name}`;
}

/** A machine made of `files` (path -> content), `env` and the sonames ldconfig knows. */
function fakeSystem(files: Record<string, string>, env: Record<string, string> = {}, cached: string[] = []): SystemView {
  const folders = new Map<string, Set<string>>();
  for (const path of Object.keys(files)) {
    for (let child = path, parent = posix.dirname(path); child !== parent; child = parent, parent = posix.dirname(parent)) {
      if (!folders.has(parent)) folders.set(parent, new Set());
      folders.get(parent)!.add(posix.basename(child));
    }
  }
  return {
    env,
    exists: (path) => path in files || folders.has(path),
    list: (folder) => [...(folders.get(folder) ?? [])],
    read: (path) => files[path] ?? null,
    ldconfig: () => [`${cached.length} libs found in cache \`/etc/ld.so.cache'`, ...cached.map((name) => ldconfigLine(name))].join('\n'),
  };
}

/** The device nodes of a machine with one NVIDIA GPU. */
const GPU_NODES = { '/dev/nvidiactl': '', '/dev/nvidia0': '' };
/** A working NVIDIA Vulkan driver, as the container toolkit mounts it with "graphics". */
const NVIDIA_DRIVER = ['libGLX_nvidia.so.0', 'libnvidia-glvkspirv.so.580.159.04', 'libnvidia-glcore.so.580.159.04'];

const HARDWARE: AdapterDescription = { vendor: 'nvidia', architecture: 'hopper', device: 'H100', description: 'NVIDIA H100', software: false, limits: {} };
const SOFTWARE: AdapterDescription = { vendor: 'mesa', architecture: 'software', device: 'llvmpipe', description: 'llvmpipe', software: true, limits: {} };

describe('vulkan probe', () => {
  it('the loader searches XDG_CONFIG_DIRS, /etc, XDG_DATA_DIRS and ~/.local/share, unless VK_DRIVER_FILES names files', () => {
    assert.deepEqual(icdSearchPaths(fakeSystem({}, { HOME: '/root' })).paths, [
      '/etc/xdg/vulkan/icd.d',
      '/etc/vulkan/icd.d',
      '/usr/local/share/vulkan/icd.d',
      '/usr/share/vulkan/icd.d',
      '/root/.local/share/vulkan/icd.d',
    ]);
    assert.deepEqual(icdSearchPaths(fakeSystem({}, { VK_ICD_FILENAMES: '/a.json:/b.json' })), { paths: ['/a.json', '/b.json'], overridden: true });
    // VK_DRIVER_FILES wins over the older VK_ICD_FILENAMES.
    assert.deepEqual(icdSearchPaths(fakeSystem({}, { VK_DRIVER_FILES: '/c.json', VK_ICD_FILENAMES: '/a.json' })).paths, ['/c.json']);
  });

  it('finds a library in the ldconfig cache, then LD_LIBRARY_PATH, then the standard folders', () => {
    const system = fakeSystem({ '/opt/drv/libGLX_nvidia.so.0': '', '/usr/lib64/libvulkan.so.1': '' }, { LD_LIBRARY_PATH: '/opt/drv' });
    assert.equal(findLibrary(system, 'libGLX_nvidia.so.0', ''), '/opt/drv/libGLX_nvidia.so.0');
    assert.equal(findLibrary(system, 'libvulkan.so.1', ''), '/usr/lib64/libvulkan.so.1');
    assert.equal(findLibrary(system, 'libvulkan.so.1', ldconfigLine('libvulkan.so.1', '/lib/x86_64-linux-gnu')), '/lib/x86_64-linux-gnu/libvulkan.so.1');
    assert.equal(findLibrary(system, 'libnvidia-glcore.so.1', ''), null);
  });

  it('a machine with no NVIDIA GPU: nothing NVIDIA-specific is missing', () => {
    const facts = vulkanFacts(fakeSystem({ '/usr/share/vulkan/icd.d/lvp_icd.json': LVP_ICD, '/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so': '' }, {}, ['libvulkan.so.1']));
    assert.equal(facts.nvidiaGpu, false);
    assert.deepEqual(facts.missing, []);
    assert.deepEqual(
      facts.icds.map((icd) => [icd.file, icd.libraryFound, icd.nvidia]),
      [['/usr/share/vulkan/icd.d/lvp_icd.json', '/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so', false]],
    );
  });

  it('a CUDA-only container (capabilities compute,utility): no ICD, no libGLX_nvidia, and the capability to add', () => {
    const system = fakeSystem(GPU_NODES, { NVIDIA_VISIBLE_DEVICES: 'all', NVIDIA_DRIVER_CAPABILITIES: 'compute,utility' }, ['libvulkan.so.1', 'libcuda.so.1']);
    const facts = vulkanFacts(system);
    assert.equal(facts.nvidiaGpu, true);
    assert.deepEqual(facts.missing, [
      "NVIDIA's Vulkan ICD manifest (nvidia_icd.json): none in /etc/xdg/vulkan/icd.d, /etc/vulkan/icd.d, /usr/local/share/vulkan/icd.d, /usr/share/vulkan/icd.d",
      "libGLX_nvidia.so.0 (NVIDIA's Vulkan driver, with libnvidia-glcore and libnvidia-glvkspirv): not installed or not mounted",
      'NVIDIA_DRIVER_CAPABILITIES=compute,utility: it lacks "graphics", so the container gets no Vulkan driver; start it with NVIDIA_DRIVER_CAPABILITIES=graphics,compute,utility',
    ]);
    // Doctor passes these on when Dawn finds no adapter, or only a software one.
    assert.deepEqual(webgpuMissing(null, facts), facts.missing);
    assert.deepEqual(webgpuMissing(SOFTWARE, facts), facts.missing);
    assert.deepEqual(webgpuMissing(HARDWARE, facts), []);
  });

  it('capabilities unset in a container: the toolkit default (utility) lacks graphics', () => {
    const facts = vulkanFacts(fakeSystem(GPU_NODES, { NVIDIA_VISIBLE_DEVICES: '0' }, ['libvulkan.so.1']));
    assert.equal(facts.driverCapabilities, null);
    assert.match(facts.missing.at(-1)!, /^NVIDIA_DRIVER_CAPABILITIES is unset \(the container toolkit then mounts "utility" only\): it lacks "graphics"/);
  });

  it('no Vulkan loader: libvulkan1 is named first', () => {
    const files = { ...GPU_NODES, '/usr/share/vulkan/icd.d/nvidia_icd.json': NVIDIA_ICD };
    const facts = vulkanFacts(fakeSystem(files, { NVIDIA_DRIVER_CAPABILITIES: 'all', NVIDIA_VISIBLE_DEVICES: 'all' }, NVIDIA_DRIVER));
    assert.deepEqual(facts.missing, ['the Vulkan loader libvulkan.so.1 (Debian/Ubuntu package libvulkan1; Dawn loads it at run time)']);
  });

  it('the ICD manifest names libGLX_nvidia.so.0, which the dynamic loader cannot find', () => {
    const files = { ...GPU_NODES, '/etc/vulkan/icd.d/nvidia_icd.json': NVIDIA_ICD };
    const facts = vulkanFacts(fakeSystem(files, { NVIDIA_DRIVER_CAPABILITIES: 'graphics,compute,utility', NVIDIA_VISIBLE_DEVICES: 'all' }, ['libvulkan.so.1']));
    assert.deepEqual(facts.missing, [
      "libGLX_nvidia.so.0, NVIDIA's Vulkan driver named by /etc/vulkan/icd.d/nvidia_icd.json: not found by the dynamic loader (ldconfig, LD_LIBRARY_PATH)",
    ]);
  });

  it("the driver's manifest sits under /usr/local/nvidia, outside the search path: VK_DRIVER_FILES is the fix", () => {
    const files = { ...GPU_NODES, '/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json': NVIDIA_ICD };
    const facts = vulkanFacts(fakeSystem(files, {}, ['libvulkan.so.1', ...NVIDIA_DRIVER]));
    assert.deepEqual(facts.strayNvidiaIcds, ['/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json']);
    assert.deepEqual(facts.missing, [
      "NVIDIA's Vulkan ICD manifest is at /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json, outside the folders the Vulkan loader searches: export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json",
    ]);
    // With VK_DRIVER_FILES set to it, nothing is missing.
    const fixed = vulkanFacts(fakeSystem(files, { VK_DRIVER_FILES: '/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json' }, ['libvulkan.so.1', ...NVIDIA_DRIVER]));
    assert.deepEqual(fixed.missing, []);
    assert.equal(fixed.icds[0]!.libraryFound, '/usr/lib/x86_64-linux-gnu/libGLX_nvidia.so.0');
  });

  it("libGLX_nvidia under the driver mount but not in the loader's paths; the SPIR-V compiler missing", () => {
    const files = { ...GPU_NODES, '/usr/local/nvidia/lib64/libGLX_nvidia.so.0': '' };
    const facts = vulkanFacts(fakeSystem(files, {}, ['libvulkan.so.1']));
    assert.deepEqual(facts.missing, [
      "NVIDIA's Vulkan ICD manifest (nvidia_icd.json): none in /etc/xdg/vulkan/icd.d, /etc/vulkan/icd.d, /usr/local/share/vulkan/icd.d, /usr/share/vulkan/icd.d",
      'libGLX_nvidia.so.0 (NVIDIA\'s Vulkan driver) is at /usr/local/nvidia/lib64/libGLX_nvidia.so.0, which the dynamic loader does not search: add its folder to LD_LIBRARY_PATH or /etc/ld.so.conf.d and run ldconfig',
    ]);
    const partial = vulkanFacts(fakeSystem({ ...GPU_NODES, '/usr/share/vulkan/icd.d/nvidia_icd.json': NVIDIA_ICD }, {}, ['libvulkan.so.1', 'libGLX_nvidia.so.0']));
    assert.deepEqual(partial.missing, ["libnvidia-glvkspirv.so (the SPIR-V compiler NVIDIA's Vulkan driver loads): not found by the dynamic loader"]);
  });

  it('a complete NVIDIA set-up: nothing missing, and doctor falls back to the generic line only without an ICD', () => {
    const files = { ...GPU_NODES, '/usr/share/vulkan/icd.d/nvidia_icd.json': NVIDIA_ICD };
    const facts = vulkanFacts(fakeSystem(files, { NVIDIA_VISIBLE_DEVICES: 'all', NVIDIA_DRIVER_CAPABILITIES: 'all' }, ['libvulkan.so.1', ...NVIDIA_DRIVER]));
    assert.deepEqual(facts.missing, []);
    assert.deepEqual(webgpuMissing(null, facts), []);
    assert.equal(
      describeVulkan(facts),
      'loader /usr/lib/x86_64-linux-gnu/libvulkan.so.1; ICDs /usr/share/vulkan/icd.d/nvidia_icd.json -> libGLX_nvidia.so.0; NVIDIA GPU visible, NVIDIA_DRIVER_CAPABILITIES all',
    );
    // No GPU, no ICD, no loader: the generic lines.
    const bare = vulkanFacts(fakeSystem({}, {}, []));
    assert.deepEqual(webgpuMissing(null, bare), [
      'the Vulkan loader libvulkan.so.1 (Debian/Ubuntu package libvulkan1; Dawn loads it at run time)',
      'a Vulkan driver (ICD): the GPU vendor\'s, or Mesa\'s lavapipe for software; in containers NVIDIA_DRIVER_CAPABILITIES must include "graphics"',
    ]);
    // A software adapter on a machine without an NVIDIA GPU is nothing missing.
    assert.deepEqual(webgpuMissing(SOFTWARE, bare), []);
  });
});
