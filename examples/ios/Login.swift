// The mobile-app flow on iOS (Swift) with Firebase Auth:
//   1. POST the partner's credential to bridge → a Firebase custom token
//   2. signIn(withCustomToken:) → a Firebase user
//   3. call your API with the ID token
//
// Swift Package Manager: firebase-ios-sdk (FirebaseAuth)
import FirebaseAuth
import Foundation

let bridge = URL(string: "https://bridge.example.com")!

struct LoginAnswer: Decodable { let custom_token: String }
struct Problem: Decodable, Error { let title: String; let status: Int } // RFC 9457

func logIn(partner: String, partnerToken: String) async throws -> User {
    var request = URLRequest(url: bridge.appendingPathComponent("v1/login"))
    request.httpMethod = "POST"
    request.setValue("application/json", forHTTPHeaderField: "Content-Type")
    request.httpBody = try JSONEncoder().encode(["partner": partner, "token": partnerToken])
    let (data, response) = try await URLSession.shared.data(for: request)
    guard (response as? HTTPURLResponse)?.statusCode == 200 else {
        throw try JSONDecoder().decode(Problem.self, from: data)
    }
    let customToken = try JSONDecoder().decode(LoginAnswer.self, from: data).custom_token
    return try await Auth.auth().signIn(withCustomToken: customToken).user
}

func me(user: User) async throws -> Data {
    let idToken = try await user.getIDToken()
    var request = URLRequest(url: bridge.appendingPathComponent("v1/me"))
    request.setValue("Bearer \(idToken)", forHTTPHeaderField: "Authorization")
    return try await URLSession.shared.data(for: request).0
}

// Local development against the Auth emulator (before signing in):
//   Auth.auth().useEmulator(withHost: "localhost", port: 9099)
