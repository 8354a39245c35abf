// The mobile-app flow on Android (Kotlin) with Firebase Auth:
//   1. POST the partner's credential to bridge → a Firebase custom token
//   2. signInWithCustomToken → a Firebase user
//   3. call your API with the ID token
//
// build.gradle: com.google.firebase:firebase-auth-ktx, com.squareup.okhttp3:okhttp,
// org.jetbrains.kotlinx:kotlinx-coroutines-play-services
package com.example.bridge

import com.google.firebase.auth.FirebaseAuth
import com.google.firebase.auth.FirebaseUser
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.tasks.await
import kotlinx.coroutines.withContext
import okhttp3.MediaType.Companion.toMediaType
import okhttp3.OkHttpClient
import okhttp3.Request
import okhttp3.RequestBody.Companion.toRequestBody
import org.json.JSONObject

private const val BRIDGE = "https://bridge.example.com"
private val http = OkHttpClient()

suspend fun logInWithPartnerToken(partner: String, partnerToken: String): FirebaseUser {
    val body = JSONObject().put("partner", partner).put("token", partnerToken).toString()
    val customToken = withContext(Dispatchers.IO) {
        val request = Request.Builder().url("$BRIDGE/v1/login")
            .post(body.toRequestBody("application/json".toMediaType())).build()
        http.newCall(request).execute().use { response ->
            val json = JSONObject(response.body!!.string())
            if (!response.isSuccessful) error("login refused: ${json.optString("title")}") // RFC 9457
            json.getString("custom_token")
        }
    }
    return FirebaseAuth.getInstance().signInWithCustomToken(customToken).await().user!!
}

suspend fun me(user: FirebaseUser): JSONObject {
    val idToken = user.getIdToken(false).await().token!!
    return withContext(Dispatchers.IO) {
        val request = Request.Builder().url("$BRIDGE/v1/me").header("Authorization", "Bearer $idToken").build()
        http.newCall(request).execute().use { JSONObject(it.body!!.string()) }
    }
}

// Local development against the Auth emulator (before signing in):
//   FirebaseAuth.getInstance().useEmulator("10.0.2.2", 9099)
