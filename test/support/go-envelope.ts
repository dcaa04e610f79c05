/** The envelope of the Go services' README (seed 001), as their publisher writes it. */
export const GO_ENVELOPE = {
  id: '550e8400-e29b-41d4-a716-446655440000',
  type: 'user.created',
  source: 'auth-service',
  organization_id: 'org-123',
  timestamp: '2024-01-15T10:30:45Z',
  schema_version: '1.0',
  data: { user_id: 12345, email: 'user@example.com', role: 'admin' },
};
