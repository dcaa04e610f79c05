import { Module, type INestApplication, type ModuleMetadata } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { afterEach } from 'vitest';

export interface TestApps {
  /** The apps the current test started: each is closed after it (push one made another way). */
  readonly apps: INestApplication[];
  /** An initialised app of a module of `metadata`, without Nest's logs. */
  boot(metadata: ModuleMetadata): Promise<INestApplication>;
}

/** Registers the hook that closes each test's apps, and returns how to boot them. */
export function useTestApps(): TestApps {
  const apps: INestApplication[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
  });
  return {
    apps,
    async boot(metadata) {
      @Module(metadata)
      class AppModule {}
      const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
      const app = moduleRef.createNestApplication({ logger: false });
      apps.push(app);
      await app.init();
      return app;
    },
  };
}
