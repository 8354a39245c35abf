// The mobile-app flow in Flutter with firebase_auth:
//   1. POST the partner's credential to bridge → a Firebase custom token
//   2. signInWithCustomToken → a Firebase user
//   3. call your API with the ID token
//
// pubspec.yaml: firebase_core, firebase_auth, http
import 'dart:convert';

import 'package:firebase_auth/firebase_auth.dart';
import 'package:http/http.dart' as http;

const bridge = 'https://bridge.example.com';

Future<User> logInWithPartnerToken(String partner, String partnerToken) async {
  final response = await http.post(
    Uri.parse('$bridge/v1/login'),
    headers: {'Content-Type': 'application/json'},
    body: jsonEncode({'partner': partner, 'token': partnerToken}),
  );
  if (response.statusCode != 200) {
    final problem = jsonDecode(response.body); // RFC 9457 problem details
    throw Exception('login refused: ${problem['title']}');
  }
  final customToken = jsonDecode(response.body)['custom_token'] as String;
  final credential = await FirebaseAuth.instance.signInWithCustomToken(customToken);
  return credential.user!;
}

Future<Map<String, dynamic>> me(User user) async {
  final idToken = await user.getIdToken();
  final response = await http.get(
    Uri.parse('$bridge/v1/me'),
    headers: {'Authorization': 'Bearer $idToken'},
  );
  return jsonDecode(response.body) as Map<String, dynamic>;
}

// Local development against the Auth emulator (call before signing in):
//   await FirebaseAuth.instance.useAuthEmulator('10.0.2.2', 9099);
