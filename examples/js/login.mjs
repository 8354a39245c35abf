// The mobile-app flow with the Firebase JS SDK (web, React Native, Node):
//   1. POST the partner's credential to bridge → a Firebase custom token
//   2. sign in to Firebase with it → a Firebase user with an ID token
//   3. call an API with the ID token (here: bridge's own GET /v1/me)
//
// Environment: BRIDGE_URL, PARTNER, PARTNER_TOKEN, FIREBASE_API_KEY, FIREBASE_PROJECT_ID, and
// FIREBASE_AUTH_EMULATOR_HOST (host:port) when running against the Auth emulator.
// Runs in the test suite (tests/test_client_examples.py) with firebase@12.19.0 against the emulator.
import { initializeApp } from "firebase/app";
import { connectAuthEmulator, getAuth, signInWithCustomToken } from "firebase/auth";

const bridge = process.env.BRIDGE_URL;

async function logIn(partner, partnerToken) {
  const response = await fetch(`${bridge}/v1/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ partner, token: partnerToken }),
  });
  if (!response.ok) {
    const problem = await response.json(); // RFC 9457 problem details
    throw new Error(`login refused: ${problem.status} ${problem.title}`);
  }
  return response.json();
}

const app = initializeApp({
  apiKey: process.env.FIREBASE_API_KEY,
  projectId: process.env.FIREBASE_PROJECT_ID,
});
const auth = getAuth(app);
if (process.env.FIREBASE_AUTH_EMULATOR_HOST) {
  connectAuthEmulator(auth, `http://${process.env.FIREBASE_AUTH_EMULATOR_HOST}`, { disableWarnings: true });
}

const login = await logIn(process.env.PARTNER, process.env.PARTNER_TOKEN);
const credential = await signInWithCustomToken(auth, login.custom_token);
const idToken = await credential.user.getIdToken();
const claims = (await credential.user.getIdTokenResult()).claims;

const me = await fetch(`${bridge}/v1/me`, { headers: { Authorization: `Bearer ${idToken}` } });
console.log(JSON.stringify({ uid: credential.user.uid, claims, me_status: me.status, me: await me.json() }));
process.exit(0);
