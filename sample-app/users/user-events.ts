import { defineEvent } from 'nestjs-event-broker';
import { z } from 'zod';

/** The contract of public.users.create: handlers that take it get a checked, typed payload. */
export const UserCreated = defineEvent(
  'public.users.create',
  z.object({ id: z.number().int(), name: z.string().min(1), email: z.email() }),
);
