import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';

async function bootstrap(): Promise<void> {
  const app = await NestFactory.create(AppModule);
  app.enableShutdownHooks();
  const port = Number(process.env.PORT ?? 3000);
  await app.listen(port);
  new Logger('SampleApp').log(
    `Listening on http://localhost:${port} (try: curl -X POST localhost:${port}/users -H 'content-type: application/json' -d '{"name":"Ada","email":"ada@example.com"}')`,
  );
}

void bootstrap();
