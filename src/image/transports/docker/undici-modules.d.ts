// undici's pool and request modules, imported by path (http.ts): they ship no declarations of
// their own, and what they export is checked at run time.
declare module 'undici/lib/dispatcher/agent.js';
declare module 'undici/lib/api/api-request.js';
