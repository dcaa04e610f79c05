import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The other tests run on the sources (see the aliases of vitest.config.ts) or on dist/ in place:
// only a tarball installed by npm into an app of its own shows what users get (the `files` list,
// the exports map, the peer dependencies, the Nest version the app brings).

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const TSC = join(REPO, 'node_modules/typescript/bin/tsc');
// An install takes seconds from a warm npm cache; this leaves room for a cold cache and a slow registry.
const SCENARIO_TIMEOUT_MS = 180_000;
const MARKERS = ['handled Ada: hello Ada', 'bridged Grace', 'kit: completed, handled Kit: hello Kit'];

// A user's app, compiled as ESM for Nest 12 and as CommonJS for Nest 11: a constructor injection
// and an @OnEvent handler on a provider of the app, an EventPublisher taken from the container;
// then the microservices bridge of the same Nest major: EventBrokerClient.emit to an @EventPattern;
// then the testing kit, in an app that has no test runner installed (as a Jest user's has no Vitest).
const APP_SOURCE = `import { Controller, Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EventPattern, Payload } from '@nestjs/microservices';
import { lastValueFrom } from 'rxjs';
import { EventBrokerModule, EventPublisher, MemoryTransport, OnEvent, type BrokerEvent } from 'nestjs-event-broker';
import { EventBrokerClient, EventBrokerStrategy } from 'nestjs-event-broker/microservices';
import { EventBrokerTestingModule, TestEvents } from 'nestjs-event-broker/testing';

interface UserCreated {
  name: string;
}

@Injectable()
export class Greeter {
  greet(name: string): string {
    return \`hello \${name}\`;
  }
}

@Injectable()
export class Listener {
  readonly handled: string[] = [];

  constructor(private readonly greeter: Greeter) {}

  @OnEvent('public.users.create')
  onUserCreated(event: BrokerEvent<UserCreated>): void {
    this.handled.push(\`handled \${event.payload.name}: \${this.greeter.greet(event.payload.name)}\`);
  }
}

@Module({ imports: [EventBrokerModule.forRoot()], providers: [Greeter, Listener] })
export class AppModule {}

@Module({ imports: [EventBrokerTestingModule.forRoot()], providers: [Greeter, Listener] })
export class TestedAppModule {}

const bridged: string[] = [];

@Controller()
export class UsersEvents {
  @EventPattern('public.users.create')
  onUserCreated(@Payload() user: UserCreated): void {
    bridged.push(\`bridged \${user.name}\`);
  }
}

@Module({ controllers: [UsersEvents] })
export class MicroserviceModule {}

async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(\`\${what} within 10 s\`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function bridge(): Promise<void> {
  const transport = new MemoryTransport();
  const microservice = await NestFactory.createMicroservice(MicroserviceModule, { strategy: new EventBrokerStrategy({ transport }), logger: false });
  await microservice.listen();
  const client = new EventBrokerClient({ transport });
  try {
    await lastValueFrom(client.emit('public.users.create', { name: 'Grace' }));
    await until(() => bridged.length > 0, 'the @EventPattern handler did not run');
    console.log(bridged.join('\\n'));
  } finally {
    await client.close();
    await microservice.close();
  }
}

async function testingKit(): Promise<void> {
  const app = await NestFactory.createApplicationContext(TestedAppModule, { logger: false });
  try {
    const event = await app.get(EventPublisher).publish<UserCreated>('public.users.create', { name: 'Kit' });
    const { status } = await app.get(TestEvents).waitFor(event.id);
    console.log(\`kit: \${status}, \${app.get(Listener).handled.join()}\`);
  } finally {
    await app.close();
  }
}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  try {
    const listener = app.get(Listener);
    await app.get(EventPublisher).publish<UserCreated>({ type: 'public.users.create', payload: { name: 'Ada' } });
    await until(() => listener.handled.length > 0, 'the @OnEvent handler did not run');
    console.log(listener.handled.join('\\n'));
  } finally {
    await app.close();
  }
  await bridge();
  await testingKit();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
`;

interface Output {
  stdout: string;
  stderr: string;
}

/** Runs `command`, rejecting with everything it printed so that a failed step explains itself. */
function run(command: string, args: string[], cwd: string, timeoutMs = 120_000): Promise<Output> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (!error) return resolve({ stdout, stderr });
      const how = error.killed ? `was killed (${error.signal ?? 'timeout'}) after ${timeoutMs} ms` : `exited with ${String(error.code)}`;
      reject(new Error(`\`${command} ${args.join(' ')}\` in ${cwd} ${how}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`));
    });
  });
}

interface Scenario {
  app: string;
  module: 'esm' | 'commonjs';
  nest: string;
}

/** Writes, installs and compiles the app of `scenario` in `dir`, to `dir/dist/main.js`. */
async function createApp(dir: string, tarball: string, scenario: Scenario): Promise<void> {
  mkdirSync(join(dir, 'src'), { recursive: true });
  const packageJson = {
    name: `packed-install-${scenario.module}`,
    private: true,
    ...(scenario.module === 'esm' ? { type: 'module' } : {}),
    dependencies: {
      '@nestjs/common': scenario.nest,
      '@nestjs/core': scenario.nest,
      '@nestjs/microservices': scenario.nest,
      'nestjs-event-broker': `file:${tarball}`,
      'reflect-metadata': '^0.2.0',
      rxjs: '^7.8.0',
    },
  };
  const compilerOptions = {
    target: 'ES2023',
    lib: ['ES2023'],
    // TypeScript 6 deprecates moduleResolution node10: a CommonJS app leaves it to the default of `module`.
    ...(scenario.module === 'esm' ? { module: 'nodenext', moduleResolution: 'nodenext' } : { module: 'commonjs' }),
    strict: true,
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
    esModuleInterop: true,
    skipLibCheck: true,
    rootDir: 'src',
    outDir: 'dist',
    // The Node types of the repository, rather than one more package to install in each app.
    typeRoots: [join(REPO, 'node_modules/@types')],
    types: ['node'],
  };
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(packageJson, null, 2)}\n`);
  writeFileSync(join(dir, 'tsconfig.json'), `${JSON.stringify({ compilerOptions, include: ['src'] }, null, 2)}\n`);
  writeFileSync(join(dir, 'src/main.ts'), APP_SOURCE);
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts'], dir);
  await run(process.execPath, [TSC, '-p', 'tsconfig.json'], dir);
}

describe('the packed package, installed by npm in an app of its own', () => {
  let workDir = '';
  let tarball = '';

  beforeAll(async () => {
    if (!existsSync(join(REPO, 'dist/index.js'))) throw new Error('dist/ is missing: run `npm run build` first (`npm test` does)');
    workDir = mkdtempSync(join(tmpdir(), 'event-broker-packed-'));
    // --ignore-scripts: the tarball is what dist/ holds now, whatever a prepack script would do.
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', workDir], REPO);
    const [packed] = JSON.parse(stdout) as { filename: string }[];
    if (!packed) throw new Error(`npm pack reported no tarball:\n${stdout}`);
    tarball = join(workDir, packed.filename);
  }, 60_000);

  afterAll(() => {
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  const scenarios: Scenario[] = [
    { app: 'Nest 12 ES module app', module: 'esm', nest: '^12.0.0' },
    // The package is an ES module: a CommonJS app loads it with require(esm), Node >= 20.19.
    { app: 'Nest 11 CommonJS app', module: 'commonjs', nest: '^11.0.0' },
  ];

  for (const scenario of scenarios) {
    it(
      `runs an @OnEvent handler, an @EventPattern handler on the bridge and the testing kit in a ${scenario.app}`,
      async () => {
        const appDir = join(workDir, scenario.module);
        await createApp(appDir, tarball, scenario);
        // The app exits on its own once closed: a handle the broker leaves open shows up as this timeout.
        const { stdout, stderr } = await run(process.execPath, ['dist/main.js'], appDir, 30_000);
        expect(stdout.split('\n'), `the app printed:\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`).toEqual(
          expect.arrayContaining(MARKERS),
        );
      },
      SCENARIO_TIMEOUT_MS,
    );
  }
});
