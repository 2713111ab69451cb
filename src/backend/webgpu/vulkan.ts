/**
 * What Dawn needs from a Linux machine to reach an NVIDIA GPU, and which
 * piece is missing when it finds no hardware adapter. Dawn talks to the GPU
 * through Vulkan: the loader (libvulkan.so.1) reads the installable client
 * driver (ICD) manifests, JSON files in a few folders, and loads the driver
 * library each one names; NVIDIA's is libGLX_nvidia.so.0 (its Vulkan driver,
 * with libnvidia-glcore and libnvidia-glvkspirv beside it). A CUDA-only
 * container has none of these: NVIDIA's container toolkit mounts the Vulkan
 * and GL parts only when NVIDIA_DRIVER_CAPABILITIES includes "graphics" (or
 * is "all"); NVIDIA's CUDA images set "compute,utility", and the toolkit's
 * default when it is unset is "utility". The SPIR-V compiler library
 * (libnvidia-glvkspirv) must be reachable too: NVIDIA's driver refuses to
 * create a Vulkan instance without it.
 *
 * Everything is read through `SystemView`, so tests give a fake file system
 * and environment; `liveSystem()` is the real one.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The parts of the machine the probe reads. */
export interface SystemView {
  env: Readonly<Record<string, string | undefined>>;
  exists(path: string): boolean;
  /** File names in a folder; [] when it cannot be read. */
  list(folder: string): string[];
  /** A file's text, or null when it cannot be read. */
  read(path: string): string | null;
  /** `ldconfig -p`'s output ('' when ldconfig is unavailable). */
  ldconfig(): string;
}

/** One ICD manifest the loader would read. */
export interface IcdManifest {
  file: string;
  /** ICD.library_path, as written. */
  library: string | null;
  /** Where that library was found (null: not found). */
  libraryFound: string | null;
  nvidia: boolean;
}

export interface VulkanFacts {
  /** An NVIDIA GPU is visible (/dev/nvidia*, /proc/driver/nvidia, or the container toolkit's NVIDIA_VISIBLE_DEVICES). */
  nvidiaGpu: boolean;
  /** Where libvulkan.so.1 was found, or null. */
  loader: string | null;
  /** Manifests in the folders the loader searches (or the files VK_DRIVER_FILES / VK_ICD_FILENAMES name). */
  icds: IcdManifest[];
  /** NVIDIA ICD manifests found outside the loader's search (driver mounts such as /usr/local/nvidia). */
  strayNvidiaIcds: string[];
  driverCapabilities: string | null;
  /** What is missing for WebGPU on the NVIDIA GPU, one line each (empty when nothing is, or there is no NVIDIA GPU). */
  missing: string[];
}

/** Where NVIDIA drivers are mounted or installed outside the standard folders (containers, HPC modules). */
const DRIVER_ROOTS = Object.freeze(['/usr/local/nvidia', '/usr/local/nvidia/lib64', '/usr/local/nvidia/lib', '/usr/lib/nvidia', '/run/nvidia/driver']);

/** Folders with NVIDIA ICD manifests that the loader does not search by default. */
const STRAY_ICD_FOLDERS = Object.freeze([
  '/usr/local/nvidia/share/vulkan/icd.d',
  '/usr/local/nvidia/etc/vulkan/icd.d',
  '/usr/local/nvidia/vulkan/icd.d',
  '/run/nvidia/driver/usr/share/vulkan/icd.d',
  '/run/nvidia/driver/etc/vulkan/icd.d',
]);

/** Library folders searched besides ldconfig's cache. */
const LIBRARY_FOLDERS = Object.freeze([
  '/usr/lib/x86_64-linux-gnu',
  '/lib/x86_64-linux-gnu',
  '/usr/lib64',
  '/lib64',
  '/usr/lib',
  '/usr/local/lib',
  '/usr/lib/aarch64-linux-gnu',
]);

export const GRAPHICS_CAPABILITIES = 'NVIDIA_DRIVER_CAPABILITIES=graphics,compute,utility';

function split(value: string | undefined): string[] {
  return (value ?? '').split(':').filter((part) => part !== '');
}

/** The folders (or files) the Vulkan loader reads ICD manifests from, in its order. */
export function icdSearchPaths(system: SystemView): { paths: string[]; overridden: boolean } {
  const { env } = system;
  const override = split(env['VK_DRIVER_FILES']).length > 0 ? split(env['VK_DRIVER_FILES']) : split(env['VK_ICD_FILENAMES']);
  if (override.length > 0) return { paths: [...override, ...split(env['VK_ADD_DRIVER_FILES'])], overridden: true };
  const configDirs = split(env['XDG_CONFIG_DIRS']).length > 0 ? split(env['XDG_CONFIG_DIRS']) : ['/etc/xdg'];
  const dataDirs = split(env['XDG_DATA_DIRS']).length > 0 ? split(env['XDG_DATA_DIRS']) : ['/usr/local/share', '/usr/share'];
  const home = env['HOME'];
  return {
    paths: [
      ...split(env['VK_ADD_DRIVER_FILES']),
      ...configDirs.map((dir) => join(dir, 'vulkan/icd.d')),
      '/etc/vulkan/icd.d',
      ...dataDirs.map((dir) => join(dir, 'vulkan/icd.d')),
      ...(home ? [join(home, '.local/share/vulkan/icd.d')] : []),
    ],
    overridden: false,
  };
}

/** Manifest files under `path` (a folder), or `path` itself when it is a .json file. */
function manifestFiles(system: SystemView, path: string): string[] {
  if (path.endsWith('.json')) return system.exists(path) ? [path] : [];
  return system
    .list(path)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => join(path, name));
}

/** Where the dynamic loader would find `name` (a bare soname), or null. */
export function findLibrary(system: SystemView, name: string, cache: string): string | null {
  if (name.includes('/')) return system.exists(name) ? name : null;
  const escaped = name.replace(/[.+]/g, '\\$&');
  const cached = new RegExp(`^\\s*${escaped}\\s.*=>\\s*(\\S+)`, 'm').exec(cache);
  if (cached) return cached[1]!;
  for (const folder of [...split(system.env['LD_LIBRARY_PATH']), ...LIBRARY_FOLDERS]) {
    const candidate = join(folder, name);
    if (system.exists(candidate)) return candidate;
  }
  return null;
}

/** Whether any library whose file name starts with `prefix` is known to the loader or in a library folder. */
function hasLibraryPrefix(system: SystemView, prefix: string, cache: string): boolean {
  if (new RegExp(`^\\s*${prefix.replace(/[.+]/g, '\\$&')}`, 'm').test(cache)) return true;
  return [...split(system.env['LD_LIBRARY_PATH']), ...LIBRARY_FOLDERS].some((folder) => system.list(folder).some((name) => name.startsWith(prefix)));
}

function parseManifest(system: SystemView, file: string, cache: string): IcdManifest {
  let library: string | null = null;
  try {
    const parsed = JSON.parse(system.read(file) ?? '') as { ICD?: { library_path?: unknown } };
    library = typeof parsed.ICD?.library_path === 'string' ? parsed.ICD.library_path : null;
  } catch {
    library = null;
  }
  // A relative path with a slash is relative to the manifest's folder (the loader's rule).
  const resolved = library && library.includes('/') && !library.startsWith('/') ? join(file, '..', library) : library;
  const libraryFound = resolved ? findLibrary(system, resolved, cache) : null;
  const nvidia = /nvidia/i.test(file) || /nvidia/i.test(library ?? '');
  return { file, library, libraryFound, nvidia };
}

function nvidiaGpuVisible(system: SystemView): boolean {
  const visible = system.env['NVIDIA_VISIBLE_DEVICES'];
  if (visible !== undefined && visible !== '' && visible !== 'void' && visible !== 'none') return true;
  return system.exists('/dev/nvidiactl') || system.exists('/dev/nvidia0') || system.exists('/proc/driver/nvidia/version');
}

/** Reads the machine's Vulkan set-up and names what WebGPU on an NVIDIA GPU lacks. */
export function vulkanFacts(system: SystemView): VulkanFacts {
  const cache = system.ldconfig();
  const loader = findLibrary(system, 'libvulkan.so.1', cache);
  const { paths, overridden } = icdSearchPaths(system);
  const seen = new Set<string>();
  const icds: IcdManifest[] = [];
  for (const path of paths) {
    for (const file of manifestFiles(system, path)) {
      if (seen.has(file)) continue;
      seen.add(file);
      icds.push(parseManifest(system, file, cache));
    }
  }
  const strayNvidiaIcds = STRAY_ICD_FOLDERS.flatMap((folder) => manifestFiles(system, folder)).filter(
    (file) => !seen.has(file) && parseManifest(system, file, cache).nvidia,
  );
  const capabilities = system.env['NVIDIA_DRIVER_CAPABILITIES'] ?? null;
  const nvidiaGpu = nvidiaGpuVisible(system);
  const facts: VulkanFacts = { nvidiaGpu, loader, icds, strayNvidiaIcds, driverCapabilities: capabilities, missing: [] };
  if (!nvidiaGpu) return facts;

  const missing = facts.missing;
  if (!loader) missing.push('the Vulkan loader libvulkan.so.1 (Debian/Ubuntu package libvulkan1; Dawn loads it at run time)');
  const nvidiaIcds = icds.filter((icd) => icd.nvidia);
  // In a container, the toolkit mounts the Vulkan driver only with "graphics" (unset means "utility").
  const inContainer = system.env['NVIDIA_VISIBLE_DEVICES'] !== undefined;
  const capabilityList = (capabilities ?? (inContainer ? 'utility' : '')).split(',').map((part) => part.trim());
  const lacksGraphics = (capabilities !== null || inContainer) && !capabilityList.includes('graphics') && !capabilityList.includes('all');
  const capabilityHint = lacksGraphics
    ? `NVIDIA_DRIVER_CAPABILITIES${capabilities === null ? ' is unset (the container toolkit then mounts "utility" only)' : `=${capabilities}`}: it lacks "graphics", so the container gets no Vulkan driver; start it with ${GRAPHICS_CAPABILITIES}`
    : null;
  if (nvidiaIcds.length === 0) {
    if (strayNvidiaIcds.length > 0) {
      missing.push(
        `NVIDIA's Vulkan ICD manifest is at ${strayNvidiaIcds[0]}, outside the folders the Vulkan loader searches${overridden ? ' (VK_DRIVER_FILES / VK_ICD_FILENAMES name others)' : ''}: export VK_DRIVER_FILES=${strayNvidiaIcds[0]}`,
      );
    } else {
      missing.push(`NVIDIA's Vulkan ICD manifest (nvidia_icd.json): none in ${paths.join(', ')}`);
    }
  }
  const candidates = nvidiaIcds.length > 0 ? nvidiaIcds : strayNvidiaIcds.map((file) => parseManifest(system, file, cache));
  for (const icd of candidates) {
    if (icd.library && !icd.libraryFound) {
      missing.push(`${icd.library}, NVIDIA's Vulkan driver named by ${icd.file}: not found by the dynamic loader (ldconfig, LD_LIBRARY_PATH)`);
    }
  }
  if (candidates.length === 0 && !findLibrary(system, 'libGLX_nvidia.so.0', cache)) {
    const mounted = DRIVER_ROOTS.flatMap((root) => system.list(root).filter((name) => name.startsWith('libGLX_nvidia')).map((name) => join(root, name)));
    missing.push(
      mounted.length > 0
        ? `libGLX_nvidia.so.0 (NVIDIA's Vulkan driver) is at ${mounted[0]}, which the dynamic loader does not search: add its folder to LD_LIBRARY_PATH or /etc/ld.so.conf.d and run ldconfig`
        : "libGLX_nvidia.so.0 (NVIDIA's Vulkan driver, with libnvidia-glcore and libnvidia-glvkspirv): not installed or not mounted",
    );
  }
  const driverFound = candidates.some((icd) => icd.libraryFound !== null) || findLibrary(system, 'libGLX_nvidia.so.0', cache) !== null;
  if (driverFound && !hasLibraryPrefix(system, 'libnvidia-glvkspirv', cache)) {
    missing.push("libnvidia-glvkspirv.so (the SPIR-V compiler NVIDIA's Vulkan driver loads): not found by the dynamic loader");
  }
  if (capabilityHint && missing.length > 0) missing.push(capabilityHint);
  return facts;
}

/** The real machine. */
export function liveSystem(): SystemView {
  let ldconfigOutput: string | undefined;
  return {
    env: process.env,
    exists: (path) => existsSync(path),
    list: (folder) => {
      try {
        return readdirSync(folder);
      } catch {
        return [];
      }
    },
    read: (path) => {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return null;
      }
    },
    ldconfig: () => {
      if (ldconfigOutput === undefined) {
        ldconfigOutput = '';
        for (const command of ['ldconfig', '/sbin/ldconfig', '/usr/sbin/ldconfig']) {
          try {
            ldconfigOutput = execFileSync(command, ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
            break;
          } catch {
            // next
          }
        }
      }
      return ldconfigOutput;
    },
  };
}
